//! What this process remembers of recently used tokens, so a request costs
//! no token lookup, and how it learns that what it remembers is stale.
//!
//! Every change to who may do what (a token revoked or rotated, a person's
//! roles changed) moves the database's authorization generation on in its
//! own transaction. Each process reads the generation every
//! [`CHECK_EVERY`] and forgets every token it holds when it moved. What it
//! remembers is trusted only within the trust window: while the last read
//! that answered began less than [`TRUST_WINDOW`] ago. A process whose
//! reads fall behind (a slow database) asks the database for every token
//! until they catch up. So once [`TRUST_WINDOW`] has passed since a change
//! committed, no process acts on what it remembered from before: whoever
//! revokes a token waits that long before saying it is done
//! ([`wait_for_caches`]), and from then on every process refuses it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use crate::domain::token::TokenAuth;
use crate::store::Store;

/// How often each process reads the authorization generation.
pub const CHECK_EVERY: Duration = Duration::from_millis(100);

/// How long after a read of the generation began its answer may be
/// trusted; whoever changes tokens or roles waits this long after the
/// commit before answering.
pub const TRUST_WINDOW: Duration = Duration::from_millis(500);

/// A remembered token is read again after this long anyway, so that a
/// change made by hand in the database, which does not move the
/// generation, applies within it.
const TTL: Duration = Duration::from_secs(10);

/// Tokens remembered at most; past it the oldest are forgotten.
const MAX_ENTRIES: usize = 10_000;

/// Recently used tokens by hash, and the generation they were read under.
/// Only known tokens are kept: unknown ones always ask the store.
pub struct TokenCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    /// The newest authorization generation this process knows of.
    generation: i64,
    /// Until when remembered tokens may be trusted (see [`TRUST_WINDOW`]).
    fresh_until: Option<Instant>,
}

struct Entry {
    auth: TokenAuth,
    cached_at: Instant,
}

impl TokenCache {
    /// A cache that reads the generation every [`CHECK_EVERY`] while it is
    /// in use; the reading stops once the cache is dropped.
    pub fn start(store: Arc<Store>) -> Arc<TokenCache> {
        let cache = Arc::new(TokenCache {
            inner: Mutex::new(Inner::default()),
        });
        tokio::spawn(check_generation(Arc::downgrade(&cache), store));
        cache
    }

    /// A cache that never reads the generation and so trusts nothing it
    /// holds: for a process that serves no API (`--role worker`), which
    /// need not read the database every [`CHECK_EVERY`] for it.
    pub fn unwatched() -> Arc<TokenCache> {
        Arc::new(TokenCache {
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The generation to read a token under: pass it to [`Self::put`].
    pub fn generation(&self) -> i64 {
        self.lock().generation
    }

    /// The remembered token of `hash`, while it may be trusted and has not
    /// expired at `now` (epoch seconds).
    pub fn get(&self, hash: &str, now: i64) -> Option<TokenAuth> {
        let inner = self.lock();
        if inner
            .fresh_until
            .is_none_or(|until| Instant::now() >= until)
        {
            return None;
        }
        inner
            .entries
            .get(hash)
            .filter(|e| e.cached_at.elapsed() < TTL && !e.auth.expired(now))
            .map(|e| e.auth.clone())
    }

    /// Remembers a token read from the store under `generation`, unless
    /// the generation moved on meanwhile (what was read may be stale).
    pub fn put(&self, hash: String, auth: TokenAuth, generation: i64) {
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.retain(|_, e| e.cached_at.elapsed() < TTL);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        let cached_at = Instant::now();
        inner.entries.insert(hash, Entry { auth, cached_at });
    }

    /// Whether a use of `auth` (the token of `hash`) at `now` is due to be
    /// written: its last noted use is a minute old or more. Notes the use
    /// in what is remembered, so the next one is not due for a minute.
    pub fn use_due(&self, hash: &str, auth: &TokenAuth, now: i64) -> bool {
        let mut inner = self.lock();
        match inner.entries.get_mut(hash) {
            Some(entry) if entry.auth.use_due(now) => {
                entry.auth.last_used_at = Some(now);
                true
            }
            Some(_) => false,
            None => auth.use_due(now),
        }
    }

    /// A read of the generation that began at `began` answered
    /// `generation`: forgets every token when it moved on, and trusts what
    /// is remembered until [`TRUST_WINDOW`] after `began`.
    pub fn observe(&self, generation: i64, began: Instant) {
        let mut inner = self.lock();
        inner.advance(generation);
        let until = began + TRUST_WINDOW;
        inner.fresh_until = Some(inner.fresh_until.map_or(until, |t| t.max(until)));
    }

    /// This process changed tokens or roles, moving the generation to
    /// `generation`: forgets every token at once.
    pub fn changed(&self, generation: i64) {
        self.lock().advance(generation);
    }
}

impl Inner {
    /// Generations only move forward: an older answer (of a read that
    /// began before this process's own change) changes nothing.
    fn advance(&mut self, generation: i64) {
        if generation > self.generation {
            self.generation = generation;
            self.entries.clear();
        }
    }
}

/// Waits until every process has read the generation since a change that
/// just committed, or stopped trusting what it remembered from before.
pub async fn wait_for_caches() {
    tokio::time::sleep(TRUST_WINDOW).await;
}

/// Reads the generation every [`CHECK_EVERY`] into `cache` until it is
/// dropped.
async fn check_generation(cache: Weak<TokenCache>, store: Arc<Store>) {
    let mut failing = false;
    loop {
        let began = Instant::now();
        let read = store.auth_generation().await;
        let Some(cache) = cache.upgrade() else { return };
        match read {
            Ok(generation) => {
                cache.observe(generation, began);
                if failing {
                    tracing::info!("reading the authorization generation again");
                }
                failing = false;
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(
                    error = format!("{:#}", anyhow::Error::from(error)),
                    "cannot read the authorization generation: every token is looked up until it can"
                );
            }
            Err(_) => {}
        }
        drop(cache);
        tokio::time::sleep(CHECK_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccountId, Caller, Role};

    fn cache() -> TokenCache {
        TokenCache {
            inner: Mutex::new(Inner::default()),
        }
    }

    fn auth(expires_at: Option<i64>) -> TokenAuth {
        TokenAuth {
            caller: Caller::new(1, 1, AccountId::from_trusted("a".into()), Role::Member, ""),
            expires_at,
            last_used_at: None,
        }
    }

    #[test]
    fn nothing_is_trusted_before_the_generation_was_read() {
        let cache = cache();
        cache.put("h".into(), auth(None), 0);
        assert_eq!(cache.get("h", 0), None);
        cache.observe(0, Instant::now());
        assert_eq!(cache.get("h", 0), Some(auth(None)));
    }

    #[test]
    fn nothing_is_trusted_once_the_last_read_is_older_than_the_trust_window() {
        let cache = cache();
        cache.put("h".into(), auth(None), 0);
        cache.observe(0, Instant::now() - TRUST_WINDOW);
        assert_eq!(cache.get("h", 0), None);
    }

    #[test]
    fn a_new_generation_forgets_every_token() {
        let cache = cache();
        cache.observe(1, Instant::now());
        cache.put("h".into(), auth(None), 1);
        cache.observe(2, Instant::now());
        assert_eq!(cache.get("h", 0), None);
        cache.put("h".into(), auth(None), 2);
        cache.changed(3);
        assert_eq!(cache.get("h", 0), None, "this process's own change");
    }

    #[test]
    fn a_token_read_before_a_change_is_not_remembered_after_it() {
        let cache = cache();
        cache.observe(1, Instant::now());
        let generation = cache.generation();
        cache.changed(2);
        cache.put("h".into(), auth(None), generation);
        cache.observe(1, Instant::now());
        assert_eq!(cache.get("h", 0), None);
        assert_eq!(cache.generation(), 2, "an older answer changes nothing");
    }

    #[test]
    fn a_remembered_token_is_refused_from_its_expiry_on() {
        let cache = cache();
        cache.observe(1, Instant::now());
        cache.put("h".into(), auth(Some(100)), 1);
        assert!(cache.get("h", 99).is_some());
        assert_eq!(cache.get("h", 100), None);
    }

    #[test]
    fn a_use_is_due_once_a_minute() {
        let cache = cache();
        cache.observe(1, Instant::now());
        let token = auth(None);
        cache.put("h".into(), token.clone(), 1);
        assert!(cache.use_due("h", &token, 1000));
        assert!(!cache.use_due("h", &token, 1059));
        assert!(cache.use_due("h", &token, 1060));
    }
}
