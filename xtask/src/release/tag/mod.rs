//! `release-tag`: the runbook's "Versioning and Tagging" on a proven SHA.
//! HEAD must be the synced main, clean, with a passing release-gate record;
//! the version must be semver and above every existing release tag. Every
//! refusal reason is collected before failing (cargo-release's `verify_*`
//! habit), and nothing is tagged or pushed unless all checks pass. The tag
//! is annotated, and its message is the release notes.
//!
//! [`gather`] finds the facts (and brings the local records up to the
//! remote's), [`decide`] is pure and collects every refusal, [`publish`]
//! reports, tags and pushes.

mod decide;
mod gather;
mod publish;

use crate::gates::record;
use crate::plumbing::env::Switch;
use crate::plumbing::output;
use crate::plumbing::{exit, git, Ctx};
use crate::release::notes;
use crate::release::version::Bump;
use decide::Requested;
use publish::Tagging;

/// The notes refs that travel with a release tag.
pub const NOTES_REFS: [&str; 2] = [record::NOTES_REF, crate::release::ledger::NOTES_REF];

/// `PUSH=1` (the make shim's spelling of `--push`).
const PUSH: Switch = Switch {
    name: "PUSH",
    on: "1",
    off: "0",
};

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("next").args(["bump", "version"])))]
pub struct Flags {
    /// Bump the latest release tag's version [env BUMP].
    #[arg(long, value_enum)]
    pub bump: Option<Bump>,
    /// The exact version, X.Y.Z or a pre-release X.Y.Z-PRE (1.11.0-rc.1) [env VERSION].
    #[arg(long, value_name = "X.Y.Z")]
    pub version: Option<String>,
    /// Also push the tag and the notes refs (gate records, deployment ledger) [env PUSH=1].
    #[arg(long)]
    pub push: bool,
    /// Run every check, print the tag and its notes; create and push nothing (records are still fetched).
    #[arg(long)]
    pub dry_run: bool,
    /// Use this reviewed notes file as the tag message instead of the generated notes [env NOTES].
    #[arg(long, value_name = "FILE")]
    pub notes: Option<std::path::PathBuf>,
}

fn requested(flags: &Flags) -> anyhow::Result<Requested> {
    if let Some(b) = flags.bump {
        return Ok(Requested::Bump(b));
    }
    if let Some(v) = &flags.version {
        return Ok(Requested::Exact(v.clone()));
    }
    match (crate::plumbing::env::var("BUMP"), crate::plumbing::env::var("VERSION")) {
        (Some(_), Some(_)) => Err(exit::usage("BUMP and VERSION are both set: give one")),
        (Some(b), None) => match b.as_str() {
            "patch" => Ok(Requested::Bump(Bump::Patch)),
            "minor" => Ok(Requested::Bump(Bump::Minor)),
            "major" => Ok(Requested::Bump(Bump::Major)),
            other => Err(exit::usage(format!("BUMP={other:?}: use BUMP=patch, BUMP=minor or BUMP=major"))),
        },
        (None, Some(v)) => Ok(Requested::Exact(v)),
        (None, None) => Err(exit::usage(
            "which version? pass --bump patch|minor|major or --version X.Y.Z (make release-tag BUMP=patch)",
        )),
    }
}

pub fn run(ctx: &Ctx, flags: &Flags) -> anyhow::Result<()> {
    let requested = requested(flags)?;
    let push = flags.push || PUSH.read()?;
    let sh = git::shell(&ctx.root)?;
    let notes_file = flags
        .notes
        .clone()
        .or_else(|| crate::plumbing::env::var("NOTES").map(Into::into));
    let facts = gather::gather(ctx, &sh, notes_file)?;
    for name in &facts.odd_tags {
        output::warning(&format!(
            "tag {name} looks like a release tag but is not vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRE; it is ignored"
        ));
    }
    let decision = decide::decide(&facts, &requested);
    if !decision.refusals.is_empty() {
        return Err(publish::refused(ctx, &facts, &decision, flags.dry_run));
    }
    let (Some(version), Some(tag_name)) = (decision.version, decision.tag_name) else {
        return Err(exit::usage("no version to tag"));
    };
    if decision.resume {
        let refs = publish::push_refs(&sh, &tag_name);
        return publish::resume(ctx, &sh, &facts, &tag_name, &refs, push, flags.dry_run);
    }
    let head = &facts.head;
    let since = notes::default_since(&sh, head)?;
    let title = format!("Release {tag_name}");
    let gaps = notes::gather(ctx, &sh, head, since, &title, Some(&tag_name))?;
    let reviewed = facts.notes_file.as_ref().and_then(|(_, t)| t.clone().ok());
    let tag = Tagging {
        message: reviewed.unwrap_or_else(|| notes::render(&gaps)),
        push_refs: publish::push_refs(&sh, &tag_name),
        name: tag_name,
        version: version.to_string(),
    };
    if flags.dry_run {
        publish::dry_run(ctx, &facts, &tag, push);
        return Ok(());
    }
    publish::tag_and_push(ctx, &sh, &facts, &tag, &gaps, push)
}
