//! `herald token create | list | revoke | rotate`: API tokens from the
//! command line, by an operator with access to the database. Each change is
//! recorded in the audit trail with the `command_line` actor.

use std::path::Path;
use std::time::Duration;

use super::{DatabaseArg, TokenCommand};
use crate::api::token_cache::wait_for_caches;
use crate::crypto::tokens::{generate_token, hash_token};
use crate::domain::AccountId;
use crate::domain::audit::Actor;
use crate::domain::time::{format_epoch, now_epoch};
use crate::domain::token::{ApiToken, parse_description};
use crate::store::{self, NewToken, PersonSpec, Store, Successor};

pub(super) async fn run(file: Option<&Path>, command: TokenCommand) -> anyhow::Result<()> {
    match command {
        TokenCommand::Create {
            account,
            role,
            name,
            email,
            expires_in,
            description,
            database,
        } => {
            let person = PersonSpec { name, email, role };
            let made = Made {
                expires_in,
                description,
            };
            let store = open(file, database).await?;
            create(&store, &account, person, made).await
        }
        TokenCommand::List { account, database } => {
            let store = open(file, database).await?;
            list(&store, &account).await
        }
        TokenCommand::Revoke { id, database } => {
            let store = open(file, database).await?;
            revoke(&store, id).await
        }
        TokenCommand::Rotate {
            id,
            overlap,
            expires_in,
            database,
        } => {
            let store = open(file, database).await?;
            rotate(&store, id, overlap.unwrap_or_default(), expires_in).await
        }
    }
}

async fn open(file: Option<&Path>, database: DatabaseArg) -> anyhow::Result<std::sync::Arc<Store>> {
    let config = database.config(file)?;
    Ok(store::connect(&config.database).await?)
}

/// What `token create` gives a new token besides its person and role.
struct Made {
    expires_in: Option<Duration>,
    description: Option<String>,
}

async fn create(
    store: &Store,
    account: &str,
    person: PersonSpec,
    made: Made,
) -> anyhow::Result<()> {
    let account = AccountId::parse(account).map_err(anyhow::Error::msg)?;
    if let Some(email) = &person.email {
        anyhow::ensure!(
            email_address::EmailAddress::is_valid(email),
            "{email:?} is not an e-mail address"
        );
    }
    let description = match made.description.as_deref() {
        Some(text) => parse_description(text).map_err(anyhow::Error::msg)?,
        None => None,
    };
    let now = now_epoch();
    store
        .ensure_account(&account, account.as_str(), now)
        .await?;
    let token = generate_token();
    let new = NewToken {
        person,
        description,
        expires_at: made.expires_in.map(|d| now + d.as_secs().max(1) as i64),
    };
    store
        .create_token(
            &account,
            &new,
            &hash_token(&token),
            &Actor::command_line(),
            now,
        )
        .await?;
    println!("{token}");
    Ok(())
}

async fn list(store: &Store, account: &str) -> anyhow::Result<()> {
    let account = AccountId::parse(account).map_err(anyhow::Error::msg)?;
    for token in store.account_tokens(&account).await? {
        println!("{}", line(&token));
    }
    Ok(())
}

/// One token as `token list` shows it: tab-separated columns.
fn line(token: &ApiToken) -> String {
    let or = |time: Option<i64>, none: &str| time.map_or(none.to_string(), format_epoch);
    [
        token.id.to_string(),
        plain(&token.person_name),
        token.role.as_str().to_string(),
        token.description.as_deref().map_or("-".into(), plain),
        format_epoch(token.created_at),
        or(token.expires_at, "never"),
        or(token.last_used_at, "never"),
    ]
    .join("\t")
}

/// A value fit for one column of a line: control characters (tabs,
/// newlines) become spaces.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

async fn revoke(store: &Store, id: i64) -> anyhow::Result<()> {
    let revoked = store
        .revoke_token(None, id, &Actor::command_line(), now_epoch())
        .await?;
    anyhow::ensure!(
        revoked.is_some(),
        "no token {id} to revoke: unknown or revoked already"
    );
    wait_for_caches().await;
    eprintln!("token {id} revoked");
    Ok(())
}

async fn rotate(
    store: &Store,
    id: i64,
    overlap: Duration,
    expires_in: Option<Duration>,
) -> anyhow::Result<()> {
    let now = now_epoch();
    let token = generate_token();
    let successor = Successor {
        overlap_secs: overlap.as_secs() as i64,
        expires_at: expires_in.map(|d| now + d.as_secs().max(1) as i64),
    };
    let rotation = store
        .rotate_token(
            id,
            &successor,
            &hash_token(&token),
            &Actor::command_line(),
            now,
        )
        .await?;
    let Some(rotation) = rotation else {
        anyhow::bail!("no token {id} to rotate: unknown, revoked or expired");
    };
    wait_for_caches().await;
    println!("{token}");
    if successor.overlap_secs > 0 {
        eprintln!(
            "token {id} is replaced by token {}; it works until {} at the latest",
            rotation.token_id,
            format_epoch(now + successor.overlap_secs)
        );
    } else {
        eprintln!(
            "token {id} is replaced by token {} and revoked",
            rotation.token_id
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    #[test]
    fn a_listed_token_is_one_line_of_seven_columns() {
        let token = ApiToken {
            id: 7,
            account: AccountId::from_trusted("wdc".into()),
            person_id: 2,
            person_name: "Howard\tTanner\n".into(),
            role: Role::Publisher,
            description: None,
            created_at: 1_458_254_171,
            expires_at: Some(1_458_254_171 + 86_400),
            last_used_at: None,
        };
        assert_eq!(
            line(&token),
            "7\tHoward Tanner \tpublisher\t-\t2016-03-17T22:36:11+00:00\t\
             2016-03-18T22:36:11+00:00\tnever"
        );
    }
}
