//! Whether a room may open now, and the refusal a person reads otherwise. Sans-IO: to be
//! written (see the issue 9 plan in the module docs of `super`).

// Placeholder until the policy lands (res-policy branch).
pub struct AdHocPolicy {
    pub allow: bool,
    pub patterns: Vec<String>,
}
