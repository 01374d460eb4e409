//! All integration tests in one binary (one link, shared helpers): each
//! module runs the real xtask against real git repositories.

mod support;

mod docs_freshness;
mod gates;
