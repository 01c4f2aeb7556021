package upstream

// Shim, when set, is the argv prefix that wraps every stdio server: the
// mcpproxy binary re-executed as a small keeper process (see RunShim).
// Without it a stdio server's own children (npx → node) would outlive a
// kill -9 of mcpproxy, because the kernel's parent-death signal only reaches
// direct children. Tests of this package leave it empty.
var Shim []string

// ShimArg is the argument that makes the mcpproxy binary run RunShim.
const ShimArg = "__upstream-shim"

// envShimParent names the environment variable that gives the shim its
// parent's pid, to notice a parent that died before the shim could ask to
// be told.
const envShimParent = "MCPPROXY_SHIM_PARENT"
