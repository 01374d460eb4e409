//! All integration tests in one binary (one link, shared helpers): each
//! module runs the real xtask against real git repositories.

mod fake_github;
mod support;

mod gates;
mod guards;
mod pr_scope;
mod workflows;
