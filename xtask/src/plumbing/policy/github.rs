//! `[github]`: the repository, required checks and the merge policy protect-main applies.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Github {
    /// `owner/name`; default: `GITHUB_REPOSITORY`, else a github.com `origin` URL.
    #[serde(default)]
    pub repository: Option<String>,
    /// Status checks (job names) that must pass before merging to main;
    /// protect-main needs at least one.
    #[serde(default)]
    pub required_checks: Vec<String>,
    /// Approving reviews a pull request needs (0 to 6).
    #[serde(default)]
    pub required_approving_review_count: u32,
    /// Every review conversation must be resolved before merging.
    #[serde(default = "default_true")]
    pub required_conversation_resolution: bool,
    /// A new push dismisses earlier approvals.
    #[serde(default)]
    pub dismiss_stale_reviews: bool,
    /// Code owners must approve changes to what they own.
    #[serde(default)]
    pub require_code_owner_reviews: bool,
    /// The last push must be approved by someone other than its author.
    #[serde(default)]
    pub require_last_push_approval: bool,
}

impl Default for Github {
    fn default() -> Github {
        Github {
            repository: None,
            required_checks: Vec::new(),
            required_approving_review_count: 0,
            required_conversation_resolution: true,
            dismiss_stale_reviews: false,
            require_code_owner_reviews: false,
            require_last_push_approval: false,
        }
    }
}

fn default_true() -> bool {
    true
}
