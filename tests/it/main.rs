//! Every integration test, in one binary so the crate is linked once (as
//! ripgrep does). Each module tests one behaviour end to end; `support` is
//! the shared harness: a real server on a loopback port, log capture, and
//! the ORDS test double.

mod support;

mod auth;
mod bundle;
mod declarative_tools;
mod direct;
mod doctor;
mod guard_corpus;
mod guard_fuzz;
mod http_transport;
mod https;
mod layers;
mod limits;
mod mcp_tools;
mod ops;
mod ords;
mod privileges;
mod read_only;
mod stdio_and_cli;
