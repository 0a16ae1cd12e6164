"""The test suite, a package so that pytest puts the repository root (not tests/) on
sys.path: `peers` is then the top-level package of the demo and test peers, and
`tests.peers` the test-only wrappers around them."""
