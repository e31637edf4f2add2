//! A stateful, loopback simulator of the Twenty CRM REST API for tests, examples and benchmarks.
