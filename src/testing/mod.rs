//! Test support shared by the unit tests and the integration tests (feature `testing`, which
//! the crate's own dev-dependency turns on): one scripted HTTP server for every fake endpoint.

pub mod fake_server;
