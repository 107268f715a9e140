//! The support lead's priority rules (issue 25): phrases that give a new ticket its
//! priority, after the built-in critical ones ([`relops_core::ticket::default_priority`]).
//! Adding, changing and removing a rule is audited; the ticket names the rule that set its
//! priority.

use chrono::Utc;
use relops_api::{NewPriorityRule, PriorityRule, PriorityRuleList, RemovePriorityRule};
use relops_core::access::Permission;
use relops_core::sla::Priority;
use relops_store::PriorityRuleRecord;
use serde_json::json;

use crate::error::{OpError, OpResult};
use crate::{Actor, Ops};

/// Most rules a product keeps (each is a substring test on every new ticket).
const MAX_RULES: u64 = 200;

fn phrase(s: &str) -> OpResult<String> {
    let p = s.trim().to_lowercase();
    let n = p.chars().count();
    if !(3..=100).contains(&n) || p.chars().any(char::is_control) {
        return Err(OpError::Invalid(format!(
            "phrase {:?}: 3 to 100 printable characters, e.g. \"lizenz abgelaufen\"",
            s.chars().take(40).collect::<String>()
        )));
    }
    Ok(p)
}

fn view(r: PriorityRuleRecord) -> PriorityRule {
    PriorityRule {
        phrase: r.phrase,
        priority: r.priority,
        created_by: r.created_by,
        created_at: r.created_at,
    }
}

impl Ops {
    /// The rules as the core applies them (a rule whose priority no longer parses is
    /// skipped).
    pub(crate) async fn ticket_rules(
        &self,
        product: &str,
    ) -> OpResult<Vec<relops_core::ticket::PriorityRule>> {
        Ok(self
            .db
            .priority_rules(product)
            .await?
            .into_iter()
            .filter_map(|r| {
                Some(relops_core::ticket::PriorityRule {
                    priority: r.priority.parse::<Priority>().ok()?,
                    phrase: r.phrase,
                })
            })
            .collect())
    }

    pub async fn priority_rules(&self, actor: &Actor, product: &str) -> OpResult<PriorityRuleList> {
        actor.authorize(Permission::TicketRead)?;
        Ok(PriorityRuleList {
            product: product.to_owned(),
            rules: self
                .db
                .priority_rules(product)
                .await?
                .into_iter()
                .map(view)
                .collect(),
        })
    }

    /// Adds or changes a rule (support lead); audited.
    pub async fn put_priority_rule(
        &self,
        actor: &Actor,
        product: &str,
        req: NewPriorityRule,
    ) -> OpResult<PriorityRuleList> {
        let who = actor.authorize(Permission::TicketLead)?;
        let phrase = phrase(&req.phrase)?;
        let priority: Priority = req.priority.trim().parse().map_err(OpError::Invalid)?;
        let rule = PriorityRuleRecord {
            phrase: phrase.clone(),
            priority: priority.as_str().to_owned(),
            created_by: who.name.clone(),
            created_at: Utc::now(),
        };
        let audit = who.audit(
            "ticket.rule_set",
            format!("priority-rules/{product}"),
            json!({"phrase": phrase, "priority": priority.as_str()}),
        );
        self.db
            .put_priority_rule(product, &rule, MAX_RULES, &audit)
            .await
            .map_err(|e| match e {
                relops_store::DbError::Conflict(m) => OpError::Conflict(m),
                e => e.into(),
            })?;
        self.priority_rules(actor, product).await
    }

    /// Removes a rule (support lead); audited.
    pub async fn remove_priority_rule(
        &self,
        actor: &Actor,
        product: &str,
        req: RemovePriorityRule,
    ) -> OpResult<PriorityRuleList> {
        let who = actor.authorize(Permission::TicketLead)?;
        let phrase = phrase(&req.phrase)?;
        let audit = who.audit(
            "ticket.rule_removed",
            format!("priority-rules/{product}"),
            json!({"phrase": phrase}),
        );
        if !self
            .db
            .remove_priority_rule(product, &phrase, &audit)
            .await?
        {
            return Err(OpError::NotFound(format!(
                "no priority rule \"{phrase}\": `relops support rules` lists them"
            )));
        }
        self.priority_rules(actor, product).await
    }
}
