package main

import "context"

func runSoak(ctx context.Context, o options, up *upstreams) (string, error)   { return "", nil }
