"""Real servers for the production adapters, started by the tests themselves.

Each server runs as a child process in a temp dir on free loopback ports, from a
package `make test` installs (see ``../shared/infra.md``). A server that cannot be
found makes the tests that need it skip with the reason (``Unavailable``), never pass.
"""
