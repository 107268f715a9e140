//! Pilot enrolment (issue 33, playbook §1.4): the release manager invites an organisation
//! with a code; each of its installs redeems the code in the app ("join the pilot") and
//! from then on asks for the internal channel; an install can leave, and the release
//! manager can remove one. The list shows who is enrolled, what each ran last, and whether
//! the release in its pilot stage runs on enough enrolled installs for the health gate's
//! crash-rate test to decide.
//!
//! Codes are 20 characters of Crockford base32 (100 random bits) in groups of four, shown
//! once; relops keeps their SHA-256. Redeeming is the public DSN's, so it is bounded like
//! all ingest, and a wrong code learns nothing but that it is wrong.

use chrono::Utc;
use relops_api::{
    IngestAck, PilotCoverage, PilotInstall, PilotInvite, PilotInviteInfo, PilotInviteRequest,
    PilotJoin, PilotJoined, PilotLeave, PilotList,
};
use relops_core::access::Permission;
use relops_core::rollout::{RolloutState, Stage};
use relops_store::{PilotInviteRecord, Redeemed};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// The channel enrolled installs get.
pub const PILOT_CHANNEL: &str = "internal";
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new code: `XXXX-XXXX-XXXX-XXXX-XXXX`.
fn new_code() -> OpResult<String> {
    let mut b = [0u8; 20];
    getrandom::fill(&mut b).map_err(|e| OpError::Internal(anyhow::anyhow!("random: {e}")))?;
    let chars: Vec<char> = b
        .iter()
        .map(|x| ALPHABET[usize::from(x & 31)] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// A code as typed, normalised (case, spaces and dashes ignored; O read as 0, I and L as
/// 1, as Crockford's alphabet does), then hashed.
fn code_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    hex::encode(Sha256::digest(norm.as_bytes()))
}

impl Ops {
    /// A code for one organisation's installs (release manager); audited without the code.
    pub async fn pilot_invite(
        &self,
        actor: &Actor,
        product: &str,
        req: PilotInviteRequest,
    ) -> OpResult<PilotInvite> {
        let who = actor.authorize(Permission::RolloutManage)?;
        let organisation = relops_core::text::line("organisation", req.organisation.trim(), 200)
            .map_err(crate::invalid)?
            .to_owned();
        if organisation.is_empty() {
            return Err(OpError::Invalid(
                "name the organisation the code is for".into(),
            ));
        }
        let max_installs = req.max_installs.unwrap_or(50);
        let days = req.days.unwrap_or(30);
        if !(1..=10_000).contains(&max_installs) || !(1..=365).contains(&days) {
            return Err(OpError::Invalid(
                "max_installs must be 1-10000 and days 1-365".into(),
            ));
        }
        let code = new_code()?;
        let now = Utc::now();
        let rec = PilotInviteRecord {
            code_sha256: code_hash(&code),
            product: product.to_owned(),
            organisation: organisation.clone(),
            max_installs: u64::from(max_installs),
            used: 0,
            expires_at: now + chrono::Duration::days(days.into()),
            created_by: who.name.clone(),
            created_at: now,
        };
        let audit = who.audit(
            "pilot.invite",
            format!("{product}/pilot"),
            json!({"organisation": organisation, "max_installs": max_installs, "expires_at": rec.expires_at}),
        );
        self.db.add_pilot_invite(&rec, &audit).await?;
        Ok(PilotInvite {
            code,
            organisation,
            max_installs,
            expires_at: rec.expires_at,
        })
    }

    /// `POST /v1/ingest/pilot/join`: the app redeems a code.
    pub async fn pilot_join(&self, product: &str, j: PilotJoin) -> OpResult<PilotJoined> {
        crate::ingest::check_scope(&j.who, &self.config.feed.channels)?;
        if j.code.len() > 64 {
            return Err(OpError::Invalid("that is not an invitation code".into()));
        }
        self.ingest_limits
            .check(product, 1, [j.who.install_id.as_str()])?;
        if !self.config.feed.channels.iter().any(|c| c == PILOT_CHANNEL) {
            return Err(OpError::Refused(format!(
                "{product} has no `{PILOT_CHANNEL}` channel ([feed] channels): there is no pilot to join"
            )));
        }
        match self
            .db
            .redeem_pilot_invite(product, &code_hash(&j.code), &j.who.install_id, Utc::now())
            .await?
        {
            Redeemed::Enrolled { organisation } => Ok(PilotJoined {
                channel: PILOT_CHANNEL.to_owned(),
                organisation,
            }),
            Redeemed::Unknown => Err(OpError::NotFound(
                "no such invitation code: check it, or ask for a new one".into(),
            )),
            Redeemed::Expired => Err(OpError::Refused(
                "this invitation code has expired: ask for a new one".into(),
            )),
            Redeemed::Full => Err(OpError::Refused(
                "this invitation code has been used by as many installs as it admits: ask for a new one".into(),
            )),
        }
    }

    /// `POST /v1/ingest/pilot/leave`: the install leaves.
    pub async fn pilot_leave(&self, product: &str, l: PilotLeave) -> OpResult<IngestAck> {
        relops_core::text::token("install_id", &l.install_id, 128).map_err(crate::invalid)?;
        self.ingest_limits
            .check(product, 1, [l.install_id.as_str()])?;
        let left = self
            .db
            .leave_pilot(product, &l.install_id, Utc::now(), None)
            .await?;
        Ok(IngestAck {
            id: None,
            stored: Some(u64::from(left)),
        })
    }

    /// Takes an install out of the pilot (release manager); audited.
    pub async fn pilot_remove(
        &self,
        actor: &Actor,
        product: &str,
        install_id: &str,
    ) -> OpResult<()> {
        let who = actor.authorize(Permission::RolloutManage)?;
        let audit = who.audit(
            "pilot.remove",
            format!("{product}/pilot/{install_id}"),
            json!({}),
        );
        if !self
            .db
            .leave_pilot(product, install_id, Utc::now(), Some(&audit))
            .await?
        {
            return Err(OpError::NotFound(format!(
                "install {install_id} is not in the pilot: `relops pilot list` shows who is"
            )));
        }
        Ok(())
    }

    /// Who is in the pilot, the invitations, and the pilot stage's coverage.
    pub async fn pilot(&self, actor: &Actor, product: &str) -> OpResult<PilotList> {
        actor.authorize(Permission::ReleaseRead)?;
        self.telemetry_visible().await?;
        let installs: Vec<PilotInstall> = self
            .db
            .pilot_installs(product)
            .await?
            .into_iter()
            .map(|p| PilotInstall {
                install_id: p.install_id,
                organisation: p.organisation,
                enrolled_at: p.enrolled_at,
                left_at: p.left_at,
                last_release: p.last_release,
                last_seen: p.last_seen,
            })
            .collect();
        let invites = self
            .db
            .pilot_invites(product)
            .await?
            .into_iter()
            .map(|i| PilotInviteInfo {
                organisation: i.organisation,
                max_installs: i.max_installs,
                used: i.used,
                expires_at: i.expires_at,
                created_by: i.created_by,
                created_at: i.created_at,
            })
            .collect();
        let in_pilot = self
            .db
            .rollouts(product)
            .await?
            .into_iter()
            .filter(|r| {
                r.rollout.stage == Stage::Pilot
                    && matches!(r.rollout.state, RolloutState::Active | RolloutState::Paused)
            })
            .map(|r| r.version)
            .max();
        let pilot_release = in_pilot.map(|v| {
            let release = v.to_string();
            let on_it = installs
                .iter()
                .filter(|i| i.left_at.is_none() && i.last_release.as_deref() == Some(&*release))
                .count() as u64;
            let needed = self.health.worst_case_installs();
            PilotCoverage {
                warning: (on_it < needed).then(|| {
                    format!(
                        "{on_it} enrolled install{} run{} {release}; the crash-rate test may need {needed} to decide: invite more pilot users, or expect the gate to stay undecided at the pilot stage",
                        if on_it == 1 { "" } else { "s" },
                        if on_it == 1 { "s" } else { "" },
                    )
                }),
                release,
                enrolled_on_it: on_it,
                needed,
            }
        });
        Ok(PilotList {
            installs,
            invites,
            pilot_release,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_and_read_back_as_typed() {
        let c = new_code().unwrap();
        assert_eq!(c.len(), 24);
        assert_eq!(c.split('-').count(), 5);
        assert_ne!(c, new_code().unwrap());
        assert_eq!(
            code_hash(&c),
            code_hash(&c.to_lowercase().replace('-', " "))
        );
        assert_eq!(code_hash("0123-1111"), code_hash("o123 iLl1"));
        assert_ne!(code_hash("0123"), code_hash("0124"));
    }
}
