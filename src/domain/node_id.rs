//! nodeIDs (§3): unpadded base64url of `<instance domain>/<Type>/<id>`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn node_id(domain: &str, type_name: &str, id: impl std::fmt::Display) -> String {
    URL_SAFE_NO_PAD.encode(format!("{domain}/{type_name}/{id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_domain_type_and_id_unpadded() {
        let id = node_id("example.com", "Webhook", 2);
        assert_eq!(id, "ZXhhbXBsZS5jb20vV2ViaG9vay8y");
        assert!(!id.contains('='));
    }
}
