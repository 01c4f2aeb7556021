package upstream

// ShimArg is the argument that makes the mcpproxy binary run RunShim (see
// Options.Shim).
const ShimArg = "__upstream-shim"

// envShimParent names the environment variable that gives the shim its
// parent's pid, to notice a parent that died before the shim could ask to
// be told.
const envShimParent = "MCPPROXY_SHIM_PARENT"
