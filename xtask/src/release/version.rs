//! Release tags: `vMAJOR.MINOR.PATCH`, or a pre-release of one
//! (`vMAJOR.MINOR.PATCH-PRE`, e.g. `v1.11.0-rc.1`), ordered by semver
//! precedence (never by string: `v1.10.0` comes after `v1.9.0`, and
//! `1.10.5 < 1.11.0-rc.1 < 1.11.0`), locally and on the remote.

use semver::Version;
use xshell::Shell;

use crate::plumbing::git;

/// A release tag and the commit it names (annotated tags are peeled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub version: Version,
    pub sha: String,
}

/// The version of a plain release tag name: `v` then a strict `X.Y.Z` (no
/// pre-release, no build metadata, no leading zeros), else `None`.
pub fn parse(name: &str) -> Option<Version> {
    parse_tag(name).filter(|v| v.pre.is_empty())
}

/// The version of a release tag name that counts in the order of releases:
/// `v` then a strict `X.Y.Z` with an optional pre-release (`-rc.1`), no
/// build metadata (it has no precedence), no leading zeros; else `None`.
pub fn parse_tag(name: &str) -> Option<Version> {
    let rest = name.strip_prefix('v')?;
    let version = Version::parse(rest).ok()?;
    version.build.is_empty().then_some(version)
}

/// A version the user typed (`1.2.3`, `v1.2.3`, or a pre-release such as
/// `1.11.0-rc.2`), or what is wrong with it.
pub fn parse_user_version(input: &str) -> Result<Version, String> {
    let text = input.trim();
    let bare = text.strip_prefix('v').unwrap_or(text);
    match Version::parse(bare) {
        Ok(v) if v.build.is_empty() => Ok(v),
        Ok(_) => Err(format!(
            "{input:?} has a build part (+…), which semver ignores in ordering: release tags are vMAJOR.MINOR.PATCH or vMAJOR.MINOR.PATCH-PRE"
        )),
        Err(e) => Err(format!(
            "{input:?} is not a semantic version MAJOR.MINOR.PATCH (e.g. 1.4.0, or 1.4.0-rc.1): {e}"
        )),
    }
}

/// Tags that look like release tags (`v` and a digit) but are not strict
/// semver (or carry build metadata), so that they can be reported instead of silently ignored.
pub fn looks_like_release(name: &str) -> bool {
    name.strip_prefix('v')
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c.is_ascii_digit())
}

/// Parses `<name> <sha>` lines into tags sorted by version (lowest first);
/// also returns the `v<digit>…` names that are not strict semver.
pub fn from_lines(lines: &[(String, String)]) -> (Vec<Tag>, Vec<String>) {
    let mut tags = Vec::new();
    let mut odd = Vec::new();
    for (name, sha) in lines {
        match parse_tag(name) {
            Some(version) => tags.push(Tag {
                name: name.clone(),
                version,
                sha: sha.clone(),
            }),
            None if looks_like_release(name) => odd.push(name.clone()),
            None => {}
        }
    }
    tags.sort_by(|a, b| a.version.cmp(&b.version).then_with(|| a.name.cmp(&b.name)));
    tags.dedup_by(|a, b| a.name == b.name);
    (tags, odd)
}

/// The local release tags, lowest version first.
pub fn local(sh: &Shell) -> anyhow::Result<(Vec<Tag>, Vec<String>)> {
    let format = "--format=%(refname:short) %(objectname) %(*objectname)";
    let out = git::read(sh, &["for-each-ref", format, "refs/tags/v*"])?;
    let lines: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let name = parts.next()?;
            let object = parts.next()?;
            // The peeled object (annotated tags) wins over the tag object.
            let sha = parts.next().unwrap_or(object);
            Some((name.to_string(), sha.to_string()))
        })
        .collect();
    Ok(from_lines(&lines))
}

/// `<sha>\trefs/tags/<name>[^{}]` lines as (name, commit sha), peeled
/// entries winning over the tag objects.
pub fn ls_remote_tags(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        let Some((sha, refname)) = line.split_once('\t') else {
            continue;
        };
        let Some(name) = refname.trim().strip_prefix("refs/tags/") else {
            continue;
        };
        let (name, peeled) = match name.strip_suffix("^{}") {
            Some(n) => (n, true),
            None => (name, false),
        };
        match out.iter_mut().find(|(n, _)| n == name) {
            Some(entry) if peeled => entry.1 = sha.trim().to_string(),
            Some(_) => {}
            None => out.push((name.to_string(), sha.trim().to_string())),
        }
    }
    out
}

/// The highest tag, if any.
pub fn latest(tags: &[Tag]) -> Option<&Tag> {
    tags.iter().max_by(|a, b| a.version.cmp(&b.version))
}

/// The next plain version after `current` for a bump of `part`. From a
/// pre-release, a bump finishes it when the part it bumps is already the
/// one the pre-release is for (npm's rule): `1.11.0-rc.1` bumps to
/// `1.11.0` by patch or minor and to `2.0.0` by major; `1.11.1-rc.1` bumps
/// to `1.11.1` by patch, `1.12.0` by minor.
pub fn bump(current: Option<&Version>, part: Bump) -> Version {
    let base = current.cloned().unwrap_or(Version::new(0, 0, 0));
    let (x, y, z) = (base.major, base.minor, base.patch);
    if !base.pre.is_empty() {
        return match part {
            Bump::Patch => Version::new(x, y, z),
            Bump::Minor if z == 0 => Version::new(x, y, 0),
            Bump::Minor => Version::new(x, y + 1, 0),
            Bump::Major if y == 0 && z == 0 => Version::new(x, 0, 0),
            Bump::Major => Version::new(x + 1, 0, 0),
        };
    }
    match part {
        Bump::Major => Version::new(x + 1, 0, 0),
        Bump::Minor => Version::new(x, y + 1, 0),
        Bump::Patch => Version::new(x, y, z + 1),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Bump {
    Patch,
    Minor,
    Major,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lines: &[(&str, &str)]) -> Vec<String> {
        let owned: Vec<(String, String)> = lines
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        from_lines(&owned).0.into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn tags_are_ordered_by_semver_not_by_string() {
        let got = names(&[
            ("v1.10.0", "a"),
            ("v1.9.0", "b"),
            ("v1.9.10", "c"),
            ("v0.1.0", "d"),
            ("v1.9.2", "e"),
        ]);
        assert_eq!(got, ["v0.1.0", "v1.9.0", "v1.9.2", "v1.9.10", "v1.10.0"]);
    }

    #[test]
    fn pre_releases_come_between_the_releases_around_them() {
        let got = names(&[
            ("v1.11.0", "a"),
            ("v1.11.0-rc.1", "b"),
            ("v1.10.5", "c"),
            ("v1.11.0-rc.10", "d"),
            ("v1.11.0-rc.2", "e"),
            ("v1.11.0-alpha", "f"),
        ]);
        assert_eq!(
            got,
            [
                "v1.10.5",
                "v1.11.0-alpha",
                "v1.11.0-rc.1",
                "v1.11.0-rc.2",
                "v1.11.0-rc.10",
                "v1.11.0"
            ]
        );
        assert_eq!(parse("v1.11.0-rc.1"), None, "parse is plain releases only");
    }

    #[test]
    fn bumps_from_a_pre_release_finish_it_or_go_past_it() {
        let rc = |s: &str| Version::parse(s).unwrap();
        let v = |a, b, c| Version::new(a, b, c);
        assert_eq!(bump(Some(&rc("1.11.0-rc.1")), Bump::Patch), v(1, 11, 0));
        assert_eq!(bump(Some(&rc("1.11.0-rc.1")), Bump::Minor), v(1, 11, 0));
        assert_eq!(bump(Some(&rc("1.11.0-rc.1")), Bump::Major), v(2, 0, 0));
        assert_eq!(bump(Some(&rc("1.11.1-rc.1")), Bump::Patch), v(1, 11, 1));
        assert_eq!(bump(Some(&rc("1.11.1-rc.1")), Bump::Minor), v(1, 12, 0));
        assert_eq!(bump(Some(&rc("2.0.0-rc.1")), Bump::Major), v(2, 0, 0));
        for from in ["1.11.0-rc.1", "1.11.1-rc.1", "2.0.0-beta"] {
            for part in [Bump::Patch, Bump::Minor, Bump::Major] {
                let next = bump(Some(&rc(from)), part);
                assert!(next > rc(from) && next.pre.is_empty(), "{from} {part:?}");
            }
        }
    }

    #[test]
    fn only_strict_release_tags_count() {
        let lines: Vec<(String, String)> = [
            "v1.2",
            "v1.2.3-rc.1",
            "v01.2.3",
            "vendor-x",
            "1.2.3",
            "v1.2.3+b",
            "v2.0.0",
        ]
        .iter()
        .map(|n| (n.to_string(), "s".to_string()))
        .collect();
        let (tags, odd) = from_lines(&lines);
        assert_eq!(
            tags.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
            ["v1.2.3-rc.1", "v2.0.0"]
        );
        assert_eq!(odd, ["v1.2", "v01.2.3", "v1.2.3+b"]);
    }

    #[test]
    fn bumps_follow_semver() {
        let v = Version::new(1, 4, 2);
        assert_eq!(bump(Some(&v), Bump::Patch), Version::new(1, 4, 3));
        assert_eq!(bump(Some(&v), Bump::Minor), Version::new(1, 5, 0));
        assert_eq!(bump(Some(&v), Bump::Major), Version::new(2, 0, 0));
        assert_eq!(bump(None, Bump::Patch), Version::new(0, 0, 1));
        assert_eq!(bump(None, Bump::Minor), Version::new(0, 1, 0));
    }

    #[test]
    fn user_versions_are_strict() {
        assert_eq!(parse_user_version("v1.2.3").unwrap(), Version::new(1, 2, 3));
        assert_eq!(parse_user_version("1.2.3").unwrap(), Version::new(1, 2, 3));
        assert_eq!(
            parse_user_version("1.11.0-rc.2").unwrap(),
            Version::parse("1.11.0-rc.2").unwrap()
        );
        for bad in [
            "1.2",
            "x",
            "1.2.3-rc.01",
            "1.2.3-",
            "1.2.3+meta",
            "",
            "--force",
            "01.2.3",
        ] {
            assert!(parse_user_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ls_remote_peels_annotated_tags() {
        let text = "aaa\trefs/tags/v1.0.0\nbbb\trefs/tags/v1.0.0^{}\nccc\trefs/tags/v1.1.0\n";
        assert_eq!(
            ls_remote_tags(text),
            vec![
                ("v1.0.0".to_string(), "bbb".to_string()),
                ("v1.1.0".to_string(), "ccc".to_string())
            ]
        );
    }
}
