//! A policy's rows: its record, its signing key, and the keys a rotation
//! retired.

use crate::domain::AccountId;
use crate::domain::policy::{JwtAlg, Policy, PolicyKey, RetiredKey, SignatureScheme};

use crate::store::StoreError;

#[derive(sqlx::FromRow)]
pub struct PolicyRow {
    id: i64,
    account_id: String,
    name: String,
    disabled: bool,
    jwt_alg: String,
    jwt_audience: Option<String>,
    jwt_claim_expires_in: Option<i64>,
    signature_scheme: String,
    openid_connect_discovery: bool,
    created_at: i64,
    updated_at: i64,
}

impl PolicyRow {
    pub fn into_domain(self) -> Result<Policy, StoreError> {
        Ok(Policy {
            jwt_alg: JwtAlg::parse(&self.jwt_alg).ok_or_else(|| {
                StoreError::Corrupt(format!("policy {} jwt_alg {:?}", self.id, self.jwt_alg))
            })?,
            id: self.id,
            account: AccountId::from_trusted(self.account_id),
            name: self.name,
            disabled: self.disabled,
            jwt_audience: self.jwt_audience,
            jwt_claim_expires_in: self.jwt_claim_expires_in,
            signature_scheme: scheme(self.id, &self.signature_scheme)?,
            openid_connect_discovery: self.openid_connect_discovery,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub struct PolicyKeyRow {
    id: i64,
    jwt_alg: String,
    jwt_audience: Option<String>,
    jwt_claim_expires_in: Option<i64>,
    signature_scheme: String,
    openid_connect_discovery: bool,
    sealed_key: Vec<u8>,
}

/// A key a rotation replaced, of the policy `policy_id`.
#[derive(sqlx::FromRow)]
pub struct RetiredKeyRow {
    pub policy_id: i64,
    sealed_key: Vec<u8>,
    retired_at: i64,
    expires_at: i64,
}

impl RetiredKeyRow {
    pub fn into_domain(self) -> RetiredKey {
        RetiredKey {
            sealed_key: self.sealed_key,
            retired_at: self.retired_at,
            expires_at: self.expires_at,
        }
    }
}

fn scheme(policy: i64, name: &str) -> Result<SignatureScheme, StoreError> {
    SignatureScheme::parse(name)
        .ok_or_else(|| StoreError::Corrupt(format!("policy {policy} signature_scheme {name:?}")))
}

impl PolicyKeyRow {
    pub fn into_domain(self) -> Result<PolicyKey, StoreError> {
        Ok(PolicyKey {
            signature_scheme: scheme(self.id, &self.signature_scheme)?,
            openid_connect_discovery: self.openid_connect_discovery,
            retired: Vec::new(),
            jwt_alg: JwtAlg::parse(&self.jwt_alg).ok_or_else(|| {
                StoreError::Corrupt(format!("policy {} jwt_alg {:?}", self.id, self.jwt_alg))
            })?,
            id: self.id,
            jwt_audience: self.jwt_audience,
            jwt_claim_expires_in: self.jwt_claim_expires_in,
            sealed_key: self.sealed_key,
        })
    }
}
