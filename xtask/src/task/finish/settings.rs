//! task-finish's durations: `--poll-interval` and `--checks-timeout`, from
//! the flag, else the environment, else the default (pure parsing).

use std::time::Duration;

use crate::plumbing::{env, exit};

/// A duration from the flag, else the environment, else the default:
/// `500ms`, `10s`, `5m`, `1h`.
pub(super) fn duration_setting(
    flag: &str,
    value: Option<String>,
    var: &str,
    default: Duration,
) -> anyhow::Result<Duration> {
    let (from, value) = match value {
        Some(v) => (flag.to_string(), v),
        None => match env::var(var) {
            Some(v) => (var.to_string(), v),
            None => return Ok(default),
        },
    };
    parse_duration(&value).map_err(|e| exit::usage(format!("{from}: {e}")))
}

/// `500ms`, `10s`, `30m`, `2h`: between 1ms and 168h (the policy's durations
/// go down to 1s; polls here may be faster).
fn parse_duration(text: &str) -> Result<Duration, String> {
    const MAX: Duration = Duration::from_secs(168 * 3600);
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let not_a_duration =
        || format!("{text:?} is not a duration like \"500ms\", \"10s\" or \"30m\"");
    let n: u64 = number.parse().map_err(|_| not_a_duration())?;
    let millis_per = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60 * 1000,
        "h" => 3600 * 1000,
        _ => return Err(not_a_duration()),
    };
    let duration = Duration::from_millis(n.saturating_mul(millis_per));
    if duration.is_zero() || duration > MAX {
        return Err(format!("{text:?} must be between 1ms and 168h"));
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_milliseconds_for_fast_polls() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("1ms").unwrap(), Duration::from_millis(1));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(
            parse_duration("168h").unwrap(),
            Duration::from_secs(168 * 3600)
        );
        for bad in ["0ms", "ms", "10", "-5ms", "1d", "5 s", "s", "1.5s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn duration_range_errors_state_the_accepted_range() {
        for (bad, expected) in [
            ("0s", "\"0s\" must be between 1ms and 168h"),
            ("0ms", "\"0ms\" must be between 1ms and 168h"),
            ("0m", "\"0m\" must be between 1ms and 168h"),
            ("169h", "\"169h\" must be between 1ms and 168h"),
            ("604800001ms", "must be between 1ms and 168h"),
            ("99999999999999999999s", "is not a duration like \"500ms\""),
            (
                "soon",
                "\"soon\" is not a duration like \"500ms\", \"10s\" or \"30m\"",
            ),
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(err.contains(expected), "{bad}: {err}");
        }
        assert_eq!(
            parse_duration("604800000ms").unwrap(),
            Duration::from_secs(168 * 3600)
        );
    }
}
