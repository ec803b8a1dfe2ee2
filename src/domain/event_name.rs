//! Event names: the vendor's catalogue (`events.txt`), parsed once.

use std::fmt;

const CATALOGUE: &str = include_str!("events.txt");

/// The event sent to a URI to prove its owner wants our messages (§8).
pub const VERIFY_EVENT: &str = "webhook.verify";

/// An event name from the catalogue. Only `parse` makes one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventName(String);

impl EventName {
    /// Accepts exactly the names of the catalogue (not `webhook.verify`).
    pub fn parse(name: &str) -> Option<EventName> {
        Self::catalogue()
            .find(|known| *known == name)
            .map(|known| EventName(known.to_string()))
    }

    pub fn catalogue() -> impl Iterator<Item = &'static str> {
        CATALOGUE.lines().map(str::trim).filter(|l| !l.is_empty())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The handshake event of §8, which no one can subscribe to.
    pub fn verify() -> EventName {
        EventName(VERIFY_EVENT.to_string())
    }

    /// For names read back from the store, which were validated when written.
    pub fn from_trusted(name: String) -> EventName {
        EventName(name)
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_catalogue_names_only() {
        assert!(EventName::parse("request.create").is_some());
        assert!(EventName::parse("automation_rule").is_some());
        assert!(EventName::parse("request.created").is_none());
        assert!(EventName::parse(VERIFY_EVENT).is_none());
        assert!(EventName::parse("").is_none());
        assert_eq!(EventName::catalogue().count(), 77);
    }
}
