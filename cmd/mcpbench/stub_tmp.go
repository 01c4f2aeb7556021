package main

import "context"

func runSearch(ctx context.Context, o options, up *upstreams) (string, error) { return "", nil }
func runSoak(ctx context.Context, o options, up *upstreams) (string, error)   { return "", nil }
