//! Explanations of a decision, for `smartlink route` (and later the API): why each attachment
//! was taken or skipped.

use serde::Serialize;
use serde_json::{Map, Value, json};

use super::decide::{Outcome, Trace, Verdict};
use super::table::{Attachment, Link, LinkRotation, Skip};
use crate::conditions::{Dimension, Set, Side};
use crate::counts::{Estimate, WEIGHT_SCALE};
use crate::vocab::{CapKind, DeviceClass};

/// The conditions in force on `a` besides its countries and devices, under the attachment's
/// field names. Two rules under one name (an attachment's `ip_ranges` and its offer's
/// `allowed_ip_ranges`, kept apart because both must hold) show as `{"all_of": [..]}`;
/// the sub ids of `params` rules are one object.
fn conditions(a: &super::table::Attachment) -> Map<String, Value> {
    let mut shown = Map::new();
    let listed = a.rules.iter().filter(|r| {
        r.exclude || !matches!(r.set.dimension(), Dimension::Country | Dimension::Device)
    });
    for r in listed {
        let field = r.set.dimension().field(Side::Attachment, r.exclude);
        let value = r.set.to_json();
        let merged = match (shown.remove(field), value) {
            (None, value) => value,
            (Some(Value::Object(mut all)), value) if all.contains_key("all_of") => {
                if let Some(Value::Array(list)) = all.get_mut("all_of") {
                    list.push(value);
                }
                Value::Object(all)
            }
            (Some(Value::Object(mut subs)), Value::Object(more))
                if more.keys().all(|k| !subs.contains_key(k)) =>
            {
                subs.extend(more);
                Value::Object(subs)
            }
            (Some(earlier), value) => json!({"all_of": [earlier, value]}),
        };
        shown.insert(field.to_string(), merged);
    }
    shown
}

/// A [`Trace`] that keeps every verdict, including those of groups after the deciding one.
pub struct Explain {
    verdicts: Vec<Option<Verdict>>,
}

impl Trace for Explain {
    const EXHAUSTIVE: bool = true;
    fn verdict(&mut self, index: usize, verdict: Verdict) {
        self.verdicts[index] = Some(verdict);
    }
}

/// One attachment in an explanation, in evaluation order.
#[derive(Debug, Serialize)]
pub struct AttachmentReport {
    pub offer_id: u32,
    pub priority: i64,
    pub offer_weight: u32,
    /// `chosen`, `qualified` (took part in the draw, not drawn), `skipped`, `not_reached`
    /// (a lower priority decided first), or `not_evaluated` (link inactive or click a bot).
    pub result: &'static str,
    /// Why it was skipped (or would be): `offer_paused`, `device_mismatch`, `capped`, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For `capped`: which cap.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<CapKind>,
    /// For `not_reached`: whether it would have qualified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_qualify: Option<bool>,
    /// Its share of the deciding priority's clicks (`weight / sum of qualifying weights`):
    /// the chance of being drawn, or with exact rotation its share of every cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Effective countries (attachment ∩ offer); empty means any.
    pub countries: Value,
    /// Effective device classes (attachment ∩ offer); every class when any.
    pub devices: Value,
    /// Optimized rotation: the weight in force and the estimate behind it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub optimized: Option<OptimizedReport>,
    /// Every other condition in force (attachment and offer merged), under the attachment's
    /// field name: `os`, `exclude_countries`, ...
    #[serde(flatten)]
    pub conditions: Map<String, Value>,
}

/// What optimized rotation holds of one attachment.
#[derive(Debug, Serialize, PartialEq)]
pub struct OptimizedReport {
    /// The share of its priority's clicks it is drawn with now (the weight in force, in
    /// millionths, over a million).
    pub share: f64,
    /// The optimizer's last estimate, over the link's window; null before its first pass.
    pub estimate: Option<Estimate>,
}

/// What optimized rotation holds of `link`'s attachment of `offer_id`; `None` when the link
/// does not optimize or has no such attachment.
pub fn optimized_weight(link: &Link, offer_id: u32) -> Option<OptimizedReport> {
    let a = link.attachments.iter().find(|a| a.offer_id == offer_id)?;
    optimized(link, a)
}

fn optimized(link: &Link, a: &Attachment) -> Option<OptimizedReport> {
    let LinkRotation::Optimized(_) = link.rotation else {
        return None;
    };
    Some(OptimizedReport {
        share: f64::from(link.weight(a)) / f64::from(WEIGHT_SCALE),
        estimate: a.counters.estimate(),
    })
}

impl Explain {
    pub fn new(link: &Link) -> Explain {
        Explain {
            verdicts: vec![None; link.attachments.len()],
        }
    }

    /// The report of every attachment of `link` after `outcome` was decided with this trace.
    pub fn report(&self, link: &Link, outcome: &Outcome) -> Vec<AttachmentReport> {
        let qualified_weight: u32 = link
            .attachments
            .iter()
            .zip(&self.verdicts)
            .filter(|(_, v)| **v == Some(Verdict::Qualified))
            .map(|(a, _)| link.weight(a))
            .sum();
        let chosen = match outcome {
            Outcome::Routed { attachment, .. } => Some(*attachment),
            Outcome::Fallback(_) => None,
        };
        link.attachments
            .iter()
            .zip(&self.verdicts)
            .map(|(a, verdict)| {
                let (result, reason, would_qualify, probability) = match verdict {
                    Some(Verdict::Qualified) => (
                        if chosen.is_some_and(|c| std::ptr::eq(c, a)) {
                            "chosen"
                        } else {
                            "qualified"
                        },
                        None,
                        None,
                        Some(f64::from(link.weight(a)) / f64::from(qualified_weight)),
                    ),
                    Some(Verdict::Skipped(skip)) => ("skipped", Some(*skip), None, None),
                    Some(Verdict::NotReached(r)) => ("not_reached", r.err(), Some(r.is_ok()), None),
                    None => ("not_evaluated", None, None, None),
                };
                AttachmentReport {
                    offer_id: a.offer_id,
                    priority: a.priority,
                    offer_weight: a.weight,
                    result,
                    reason: reason.map(Skip::as_str),
                    cap: match reason {
                        Some(Skip::Capped(kind)) => Some(kind),
                        _ => None,
                    },
                    would_qualify,
                    probability,
                    countries: a
                        .rules
                        .include(Dimension::Country)
                        .map_or_else(|| json!([]), Set::to_json),
                    devices: a
                        .rules
                        .include(Dimension::Device)
                        .map_or_else(|| json!(DeviceClass::ALL), Set::to_json),
                    optimized: optimized(link, a),
                    conditions: conditions(a),
                }
            })
            .collect()
    }
}
