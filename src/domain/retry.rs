//! When to try a failed delivery again (§9): a schedule of growing
//! intervals with jitter, and `Retry-After` honoured within bounds.

use std::time::{Duration, SystemTime};

use rand::Rng;

pub const DEFAULT_SCHEDULE: &str = "30s,2m,5m,15m,30m,1h,2h,4h,8h";
/// ±20 %.
pub const JITTER: f64 = 0.2;
/// A `Retry-After` may always ask for up to this long.
const MIN_RETRY_AFTER_CAP: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// The wait after the 1st, 2nd... failed attempt; the last repeats.
    pub schedule: Vec<Duration>,
}

impl RetryPolicy {
    /// Parses `30s,2m,1h` (humantime units).
    pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
        let schedule = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if schedule.is_empty() {
            return Err("the schedule needs at least one interval".into());
        }
        Ok(schedule)
    }

    /// The wait after failed attempt number `attempt` (1-based), or `None`
    /// when that was the last one allowed. A `Retry-After` wins over the
    /// schedule, kept between 1 second and the schedule's longest interval
    /// (at least an hour).
    pub fn delay_after(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        rng: &mut impl Rng,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(wait) = retry_after {
            let longest = self.schedule.iter().max().copied().unwrap_or_default();
            return Some(wait.clamp(Duration::from_secs(1), longest.max(MIN_RETRY_AFTER_CAP)));
        }
        let index = (attempt as usize)
            .saturating_sub(1)
            .min(self.schedule.len() - 1);
        let base = self.schedule[index];
        let factor = rng.gen_range((1.0 - JITTER)..=(1.0 + JITTER));
        Some(base.mul_f64(factor))
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 10,
            schedule: RetryPolicy::parse_schedule(DEFAULT_SCHEDULE).unwrap(),
        }
    }

    #[test]
    fn default_schedule_grows_with_jitter_within_20_percent() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(7);
        let expected = [30, 120, 300, 900, 1800, 3600, 7200, 14400, 28800];
        for (i, base) in expected.iter().enumerate() {
            let mut seen = Vec::new();
            for _ in 0..200 {
                let delay = policy
                    .delay_after(i as u32 + 1, None, &mut rng)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    delay >= *base as f64 * 0.8 - 1e-6 && delay <= *base as f64 * 1.2 + 1e-6,
                    "{delay}"
                );
                seen.push(delay);
            }
            let spread = seen.iter().cloned().fold(f64::MIN, f64::max)
                - seen.iter().cloned().fold(f64::MAX, f64::min);
            assert!(spread > *base as f64 * 0.2, "jitter spreads retries");
        }
        assert_eq!(
            policy.delay_after(10, None, &mut rng),
            None,
            "10 attempts in all"
        );
    }

    #[test]
    fn the_last_interval_repeats() {
        let policy = RetryPolicy {
            max_attempts: 5,
            schedule: vec![Duration::from_secs(10)],
        };
        let mut rng = StdRng::seed_from_u64(1);
        let d = policy.delay_after(4, None, &mut rng).unwrap();
        assert!(d >= Duration::from_secs(8) && d <= Duration::from_secs(12));
    }

    #[test]
    fn retry_after_is_honoured_within_bounds() {
        let policy = policy();
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(120)), &mut rng),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::ZERO), &mut rng),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(999_999)), &mut rng),
            Some(Duration::from_secs(8 * 3600))
        );
        assert_eq!(
            policy.delay_after(10, Some(Duration::from_secs(5)), &mut rng),
            None
        );
    }

    #[test]
    fn retry_after_may_ask_for_an_hour_even_with_short_schedules() {
        let policy = RetryPolicy {
            max_attempts: 3,
            schedule: vec![Duration::from_millis(50)],
        };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(120)), &mut rng),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            policy.delay_after(1, Some(Duration::from_secs(7200)), &mut rng),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn parses_retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn schedules_must_parse() {
        assert!(RetryPolicy::parse_schedule("1s, 500ms").is_ok());
        assert!(RetryPolicy::parse_schedule("").is_err());
        assert!(RetryPolicy::parse_schedule("10 parsecs").is_err());
    }
}
