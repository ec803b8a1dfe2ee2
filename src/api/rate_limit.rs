//! Per-token request budgets in fixed one-hour windows (§2).

use std::collections::HashMap;
use std::sync::Mutex;

pub const WINDOW_SECS: i64 = 3600;

/// What one request's check found, for the `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub limit: u32,
    pub remaining: u32,
    /// Epoch seconds when the window ends.
    pub reset: i64,
    pub allowed: bool,
}

pub struct RateLimiter {
    limit: u32,
    windows: Mutex<HashMap<i64, (i64, u32)>>,
}

impl RateLimiter {
    /// `limit` requests per hour per token; 0 turns limiting off.
    pub fn new(limit: u32) -> Self {
        RateLimiter {
            limit,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `token_id` at `now`; `None` when limiting is off.
    pub fn check(&self, token_id: i64, now: i64) -> Option<Budget> {
        if self.limit == 0 {
            return None;
        }
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (start, _)| now < *start + WINDOW_SECS);
        }
        let entry = windows.entry(token_id).or_insert((now, 0));
        if now >= entry.0 + WINDOW_SECS {
            *entry = (now, 0);
        }
        let allowed = entry.1 < self.limit;
        if allowed {
            entry.1 += 1;
        }
        Some(Budget {
            limit: self.limit,
            remaining: self.limit - entry.1,
            reset: entry.0 + WINDOW_SECS,
            allowed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_down_refuses_then_resets() {
        let limiter = RateLimiter::new(2);
        let first = limiter.check(1, 1000).unwrap();
        assert_eq!(
            (first.remaining, first.reset, first.allowed),
            (1, 4600, true)
        );
        assert!(limiter.check(1, 1001).unwrap().allowed);
        let refused = limiter.check(1, 1002).unwrap();
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert!(
            limiter.check(2, 1002).unwrap().allowed,
            "tokens have their own budgets"
        );
        assert!(
            limiter.check(1, 4600).unwrap().allowed,
            "a new window starts"
        );
    }

    #[test]
    fn zero_turns_it_off() {
        assert_eq!(RateLimiter::new(0).check(1, 0), None);
    }
}
