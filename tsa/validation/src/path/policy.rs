//! Certificate policy processing of RFC 5280 §6.1: the policy inputs of §6.1.1, the
//! initialisation of §6.1.2, steps (d) to (f) of §6.1.3, steps (a), (b) and (h) to (j) of §6.1.4
//! and steps (a), (b) and (g) of the wrap-up in §6.1.5. Policy qualifiers are ignored.
//!
//! The valid_policy_tree of RFC 5280 can grow exponentially with policy mappings
//! (CVE-2023-0464). It is kept here as a policy graph, the representation of BoringSSL and Go:
//! each depth holds at most one node per valid_policy, with the set of its parents in the depth
//! above. All the tree nodes of one depth with the same valid_policy share one
//! expected_policy_set (§6.1.4(b) sets it by valid_policy, and new nodes start with
//! {valid_policy}), so they have the same children and the graph is the tree with identical
//! subtrees merged: it answers every question the algorithm asks of the tree. Its size is linear
//! in the size of the extensions, and a cap on the nodes, edges and mapped expected policies
//! created turns hostile paths into an error before they cost time or memory.
//!
//! Deleting childless nodes (§6.1.3(d)(3), §6.1.4(b)(2)(ii), §6.1.5(g)(iii)(4)) is done once, in
//! [`PolicyState::finish`], by walking up from the last depth: no step looks at a depth other
//! than the newest one except the wrap-up, and a tree is NULL exactly when its newest depth is
//! empty.

use std::collections::{BTreeMap, BTreeSet};

use const_oid::db::rfc5280::{
    ANY_POLICY, ID_CE_CERTIFICATE_POLICIES, ID_CE_INHIBIT_ANY_POLICY, ID_CE_POLICY_CONSTRAINTS,
    ID_CE_POLICY_MAPPINGS,
};
use const_oid::ObjectIdentifier;
use der::DecodeOwned;
use x509_cert::ext::pkix::{
    CertificatePolicies, InhibitAnyPolicy, PolicyConstraints, PolicyMappings,
};
use x509_cert::Certificate;

/// Default cap on the size of the policy graph: nodes, edges and mapped expected policies
/// created over the whole path. Honest paths stay far below it; only paths built to exhaust
/// the validator come near it.
pub const DEFAULT_MAX_POLICY_GRAPH_SIZE: usize = 10_000;

/// The policy inputs of RFC 5280 §6.1.1 (c), (e), (f) and (g).
#[derive(Debug, Clone, Default)]
pub struct PolicyInputs {
    /// user-initial-policy-set; `None`, or a set holding anyPolicy, means any-policy.
    pub initial_policy_set: Option<Vec<ObjectIdentifier>>,
    /// initial-policy-mapping-inhibit.
    pub initial_policy_mapping_inhibit: bool,
    /// initial-explicit-policy.
    pub initial_explicit_policy: bool,
    /// initial-any-policy-inhibit.
    pub initial_any_policy_inhibit: bool,
}

/// Why a path fails policy processing; the reason names the certificate (its position `i` of
/// `n`, counted from the trust anchor's child) and the policy or extension at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PolicyError {
    /// English explanation.
    pub reason: String,
}

impl PolicyError {
    fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    fn at(i: usize, n: usize, reason: impl std::fmt::Display) -> Self {
        Self::new(format!("certificate {i} of {n}: {reason}"))
    }
}

/// A set of certificate policies in which `Any` stands for any-policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicySet {
    /// Every policy (any-policy).
    Any,
    /// Exactly these policies; never holds anyPolicy.
    Set(BTreeSet<ObjectIdentifier>),
}

impl PolicySet {
    /// Whether no policy at all is in the set.
    pub fn is_empty(&self) -> bool {
        match self {
            Self::Any => false,
            Self::Set(policies) => policies.is_empty(),
        }
    }

    /// Whether `policy` is in the set.
    pub fn contains(&self, policy: &ObjectIdentifier) -> bool {
        match self {
            Self::Any => true,
            Self::Set(policies) => policies.contains(policy),
        }
    }

    fn intersection(&self, other: &Self) -> Self {
        match (self, other) {
            (Self::Any, other) | (other, Self::Any) => other.clone(),
            (Self::Set(left), Self::Set(right)) => {
                Self::Set(left.intersection(right).copied().collect())
            }
        }
    }
}

impl std::fmt::Display for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PolicySet::Any => f.write_str("any policy"),
            PolicySet::Set(set) if set.is_empty() => f.write_str("none"),
            PolicySet::Set(set) => {
                let oids: Vec<String> = set.iter().map(ToString::to_string).collect();
                f.write_str(&oids.join(", "))
            }
        }
    }
}

/// The result of policy processing for a path that passed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyOutcome {
    /// The policies, in the trust anchor's domain, under which the CAs of the path issued it:
    /// the valid_policy of every surviving node whose parent is anyPolicy, or `Any` when an
    /// anyPolicy node reaches the last depth.
    pub authorities_constrained: PolicySet,
    /// The authorities-constrained set intersected with the user-initial-policy-set
    /// (§6.1.5(g)); empty only when explicit policy was not required.
    pub user_constrained: PolicySet,
    /// Whether explicit_policy was zero at the end (the explicit-policy-indicator): the path
    /// had to be valid for at least one policy of the user's set.
    pub explicit_policy_required: bool,
}

impl std::fmt::Display for PolicyOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (acceptable to the relying party: {}{})",
            self.authorities_constrained,
            self.user_constrained,
            if self.explicit_policy_required {
                ", explicit policy required"
            } else {
                ""
            }
        )
    }
}

/// One node of the policy graph at some depth; its valid_policy is its key in [`Level::nodes`].
#[derive(Debug, Default)]
struct PolicyNode {
    /// Parents among the non-anyPolicy nodes of the depth above, by valid_policy.
    parents: BTreeSet<ObjectIdentifier>,
    /// Whether the anyPolicy node of the depth above is a parent.
    parent_is_any: bool,
    /// The expected_policy_set a policy mapping gave it; `None` keeps {valid_policy}.
    mapped_to: Option<BTreeSet<ObjectIdentifier>>,
}

impl PolicyNode {
    fn expected_policies<'a>(
        &'a self,
        valid_policy: &'a ObjectIdentifier,
    ) -> Box<dyn Iterator<Item = &'a ObjectIdentifier> + 'a> {
        match &self.mapped_to {
            Some(mapped) => Box::new(mapped.iter()),
            None => Box::new(std::iter::once(valid_policy)),
        }
    }
}

/// One depth of the policy graph.
#[derive(Debug, Default)]
struct Level {
    /// Whether the node with valid_policy anyPolicy (expected_policy_set {anyPolicy}) exists.
    any_policy: bool,
    /// The other nodes, by valid_policy.
    nodes: BTreeMap<ObjectIdentifier, PolicyNode>,
}

impl Level {
    fn is_empty(&self) -> bool {
        !self.any_policy && self.nodes.is_empty()
    }
}

/// Counts what the graph has created against the cap.
#[derive(Debug)]
struct GraphBudget {
    used: usize,
    max: usize,
}

impl GraphBudget {
    fn charge(&mut self, amount: usize, i: usize, n: usize) -> Result<(), PolicyError> {
        self.used = self.used.saturating_add(amount);
        if self.used > self.max {
            return Err(PolicyError::at(
                i,
                n,
                format!(
                    "the policy graph exceeds {} nodes, edges and mapped policies; \
                     the path's policy mappings are refused as too costly to process",
                    self.max
                ),
            ));
        }
        Ok(())
    }
}

/// The four policy extensions of one certificate, decoded and checked for form.
#[derive(Debug, Default)]
struct PolicyExtensions {
    /// The asserted policies other than anyPolicy, and whether anyPolicy is asserted.
    policies: Option<(BTreeSet<ObjectIdentifier>, bool)>,
    mappings: Option<PolicyMappings>,
    constraints: Option<PolicyConstraints>,
    inhibit_any_policy: Option<InhibitAnyPolicy>,
}

fn decode_extension<T: DecodeOwned>(
    value: &[u8],
    name: &str,
    i: usize,
    n: usize,
) -> Result<T, PolicyError> {
    T::from_der(value).map_err(|error| PolicyError::at(i, n, format!("malformed {name}: {error}")))
}

fn read_extensions(
    cert: &Certificate,
    i: usize,
    n: usize,
) -> Result<PolicyExtensions, PolicyError> {
    let mut found = PolicyExtensions::default();
    let mut seen = BTreeSet::new();
    let extensions = cert
        .tbs_certificate
        .extensions
        .as_deref()
        .unwrap_or_default();
    for extension in extensions {
        let oid = extension.extn_id;
        let value = extension.extn_value.as_bytes();
        let name = match oid {
            ID_CE_CERTIFICATE_POLICIES => "certificatePolicies",
            ID_CE_POLICY_MAPPINGS => "policyMappings",
            ID_CE_POLICY_CONSTRAINTS => "policyConstraints",
            ID_CE_INHIBIT_ANY_POLICY => "inhibitAnyPolicy",
            _ => continue,
        };
        // §4.2: an extension appears at most once; two copies leave the policy ambiguous.
        if !seen.insert(oid) {
            return Err(PolicyError::at(
                i,
                n,
                format!("{name} appears more than once"),
            ));
        }
        match oid {
            ID_CE_CERTIFICATE_POLICIES => {
                let policies: CertificatePolicies = decode_extension(value, name, i, n)?;
                if policies.0.is_empty() {
                    return Err(PolicyError::at(
                        i,
                        n,
                        "malformed certificatePolicies: empty",
                    ));
                }
                let mut asserted = BTreeSet::new();
                let mut asserts_any = false;
                for information in &policies.0 {
                    let policy = information.policy_identifier;
                    // §4.2.1.4: a policy OID must not appear more than once.
                    let repeated = if policy == ANY_POLICY {
                        std::mem::replace(&mut asserts_any, true)
                    } else {
                        !asserted.insert(policy)
                    };
                    if repeated {
                        return Err(PolicyError::at(
                            i,
                            n,
                            format!("certificatePolicies asserts policy {policy} more than once"),
                        ));
                    }
                }
                found.policies = Some((asserted, asserts_any));
            }
            ID_CE_POLICY_MAPPINGS => {
                let mappings: PolicyMappings = decode_extension(value, name, i, n)?;
                if mappings.0.is_empty() {
                    return Err(PolicyError::at(i, n, "malformed policyMappings: empty"));
                }
                found.mappings = Some(mappings);
            }
            ID_CE_POLICY_CONSTRAINTS => {
                let constraints: PolicyConstraints = decode_extension(value, name, i, n)?;
                // §4.2.1.11: an empty sequence is not a conforming policyConstraints.
                if constraints.require_explicit_policy.is_none()
                    && constraints.inhibit_policy_mapping.is_none()
                {
                    return Err(PolicyError::at(
                        i,
                        n,
                        "malformed policyConstraints: neither requireExplicitPolicy nor \
                         inhibitPolicyMapping is present",
                    ));
                }
                found.constraints = Some(constraints);
            }
            _ => {
                found.inhibit_any_policy = Some(decode_extension(value, name, i, n)?);
            }
        }
    }
    Ok(found)
}

/// Lowers a §6.1.2 counter to a SkipCerts value when that is smaller (§6.1.4(i), (j)).
fn lower_to(counter: &mut usize, skip_certs: u32) {
    // A SkipCerts beyond usize cannot lower a counter bounded by the path length.
    let skip_certs = usize::try_from(skip_certs).unwrap_or(usize::MAX);
    if skip_certs < *counter {
        *counter = skip_certs;
    }
}

/// The state variables of RFC 5280 §6.1.2 that concern policies, carried along the path.
#[derive(Debug)]
pub struct PolicyState {
    /// n, the number of certificates after the trust anchor.
    path_len: usize,
    /// How many certificates [`PolicyState::process`] has accepted.
    processed: usize,
    /// Set when processing failed; the state no longer follows RFC 5280.
    failed: bool,
    /// The user-initial-policy-set; `Any` for any-policy.
    user_initial_policy_set: PolicySet,
    explicit_policy: usize,
    inhibit_any_policy: usize,
    policy_mapping: usize,
    /// The valid_policy_tree as a graph: `levels[d]` is depth d, `levels[0]` the anyPolicy root.
    levels: Vec<Level>,
    budget: GraphBudget,
    /// Whether certificate n carries policyConstraints with requireExplicitPolicy 0 (§6.1.5(b)).
    last_requires_explicit_policy: bool,
}

impl PolicyState {
    /// §6.1.2 (a), (d), (e) and (f) for a path of `path_len` certificates after the trust
    /// anchor, with the default cap on the policy graph.
    pub fn new(inputs: &PolicyInputs, path_len: usize) -> Self {
        Self::with_max_graph_size(inputs, path_len, DEFAULT_MAX_POLICY_GRAPH_SIZE)
    }

    /// As [`PolicyState::new`], refusing the path once the policy graph has created more than
    /// `max_graph_size` nodes, edges and mapped expected policies.
    pub fn with_max_graph_size(
        inputs: &PolicyInputs,
        path_len: usize,
        max_graph_size: usize,
    ) -> Self {
        let user_initial_policy_set = match &inputs.initial_policy_set {
            Some(policies) if !policies.contains(&ANY_POLICY) => {
                PolicySet::Set(policies.iter().copied().collect())
            }
            _ => PolicySet::Any,
        };
        let initial = |inhibited: bool| {
            if inhibited {
                0
            } else {
                path_len.saturating_add(1)
            }
        };
        let root = Level {
            any_policy: true,
            nodes: BTreeMap::new(),
        };
        Self {
            path_len,
            processed: 0,
            failed: false,
            user_initial_policy_set,
            explicit_policy: initial(inputs.initial_explicit_policy),
            inhibit_any_policy: initial(inputs.initial_any_policy_inhibit),
            policy_mapping: initial(inputs.initial_policy_mapping_inhibit),
            levels: vec![root],
            budget: GraphBudget {
                used: 1,
                max: max_graph_size,
            },
            last_requires_explicit_policy: false,
        }
    }

    /// Whether the valid_policy_tree is NULL so far.
    pub fn valid_policy_tree_is_null(&self) -> bool {
        self.newest_level().is_empty()
    }

    fn newest_level(&self) -> &Level {
        // `levels` starts with the root and only grows.
        &self.levels[self.levels.len() - 1]
    }

    /// One certificate of the path, i = 1..=n in order from the anchor's child to the end
    /// entity; `self_issued` as §6.1 defines it. Runs §6.1.3(d)(e)(f) and, when i < n,
    /// §6.1.4(a)(b)(h)(i)(j). After an error the state refuses further use.
    pub fn process(
        &mut self,
        cert: &Certificate,
        i: usize,
        self_issued: bool,
    ) -> Result<(), PolicyError> {
        if self.failed {
            return Err(PolicyError::new(
                "policy processing already failed for this path",
            ));
        }
        let n = self.path_len;
        if i != self.processed + 1 || i > n {
            self.failed = true;
            return Err(PolicyError::new(format!(
                "certificate {i} of {n} given out of order: certificate {} was expected",
                self.processed + 1
            )));
        }
        let result = self.process_in_order(cert, i, self_issued);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn process_in_order(
        &mut self,
        cert: &Certificate,
        i: usize,
        self_issued: bool,
    ) -> Result<(), PolicyError> {
        let n = self.path_len;
        let extensions = read_extensions(cert, i, n)?;

        // §6.1.3(d) when the tree is not NULL, else (e): no policies leave the tree NULL.
        let level = match &extensions.policies {
            Some((asserted, asserts_any)) if !self.valid_policy_tree_is_null() => {
                let any_policy_honoured =
                    *asserts_any && (self.inhibit_any_policy > 0 || (i < n && self_issued));
                let previous = self.newest_level();
                let mut budget = GraphBudget {
                    used: self.budget.used,
                    max: self.budget.max,
                };
                let level = next_level(previous, asserted, any_policy_honoured, &mut budget, i, n)?;
                self.budget = budget;
                level
            }
            _ => Level::default(),
        };
        self.levels.push(level);
        self.processed = i;

        // §6.1.3(f).
        if self.explicit_policy == 0 && self.valid_policy_tree_is_null() {
            return Err(PolicyError::at(
                i,
                n,
                "an explicit policy is required and no acceptable policy remains \
                 (the valid_policy_tree is NULL)",
            ));
        }

        if i == n {
            self.last_requires_explicit_policy = extensions
                .constraints
                .as_ref()
                .is_some_and(|constraints| constraints.require_explicit_policy == Some(0));
            return Ok(());
        }

        // §6.1.4(a) and (b).
        if let Some(mappings) = &extensions.mappings {
            self.apply_mappings(mappings, i)?;
        }
        // §6.1.4(h).
        if !self_issued {
            self.explicit_policy = self.explicit_policy.saturating_sub(1);
            self.policy_mapping = self.policy_mapping.saturating_sub(1);
            self.inhibit_any_policy = self.inhibit_any_policy.saturating_sub(1);
        }
        // §6.1.4(i).
        if let Some(constraints) = &extensions.constraints {
            if let Some(skip_certs) = constraints.require_explicit_policy {
                lower_to(&mut self.explicit_policy, skip_certs);
            }
            if let Some(skip_certs) = constraints.inhibit_policy_mapping {
                lower_to(&mut self.policy_mapping, skip_certs);
            }
        }
        // §6.1.4(j).
        if let Some(InhibitAnyPolicy(skip_certs)) = extensions.inhibit_any_policy {
            lower_to(&mut self.inhibit_any_policy, skip_certs);
        }
        Ok(())
    }

    /// §6.1.4(a) and (b) on the newest depth, i.
    fn apply_mappings(&mut self, mappings: &PolicyMappings, i: usize) -> Result<(), PolicyError> {
        let n = self.path_len;
        let mut equivalents: BTreeMap<ObjectIdentifier, BTreeSet<ObjectIdentifier>> =
            BTreeMap::new();
        for mapping in &mappings.0 {
            let (issuer, subject) = (mapping.issuer_domain_policy, mapping.subject_domain_policy);
            if issuer == ANY_POLICY || subject == ANY_POLICY {
                return Err(PolicyError::at(
                    i,
                    n,
                    format!(
                        "policyMappings maps {} to {}: anyPolicy may not be mapped",
                        policy_name(&issuer),
                        policy_name(&subject)
                    ),
                ));
            }
            equivalents.entry(issuer).or_default().insert(subject);
        }

        let mapping_allowed = self.policy_mapping > 0;
        let budget = &mut self.budget;
        let Some(level) = self.levels.last_mut() else {
            return Ok(());
        };
        for (issuer, subjects) in equivalents {
            if !mapping_allowed {
                // §6.1.4(b)(2)(i); the childless ancestors go in the wrap-up.
                level.nodes.remove(&issuer);
                continue;
            }
            // §6.1.4(b)(1).
            if let Some(node) = level.nodes.get_mut(&issuer) {
                budget.charge(subjects.len(), i, n)?;
                node.mapped_to = Some(subjects);
            } else if level.any_policy {
                // A node for the issuer domain policy, child of the anyPolicy node's parent.
                budget.charge(subjects.len() + 2, i, n)?;
                level.nodes.insert(
                    issuer,
                    PolicyNode {
                        parents: BTreeSet::new(),
                        parent_is_any: true,
                        mapped_to: Some(subjects),
                    },
                );
            }
        }
        Ok(())
    }

    /// §6.1.5(a), (b) and (g) after certificate n: the policies the path is valid for, or an
    /// error when an explicit policy is required and none of the user's policies remains.
    pub fn finish(self) -> Result<PolicyOutcome, PolicyError> {
        let n = self.path_len;
        if self.failed {
            return Err(PolicyError::new(
                "policy processing already failed for this path",
            ));
        }
        if self.processed != n {
            return Err(PolicyError::new(format!(
                "policy processing finished after {} of {n} certificates",
                self.processed
            )));
        }
        let mut explicit_policy = self.explicit_policy;
        // §6.1.5(a).
        explicit_policy = explicit_policy.saturating_sub(1);
        // §6.1.5(b).
        if self.last_requires_explicit_policy {
            explicit_policy = 0;
        }

        // §6.1.5(g): the nodes left after deleting childless ones are those with a descendant
        // at depth n; among them, those whose parent is anyPolicy form the
        // valid_policy_node_set, whose policies are the authorities' ones.
        let mut authorities = BTreeSet::new();
        let mut alive: BTreeSet<ObjectIdentifier> =
            self.newest_level().nodes.keys().copied().collect();
        for level in self.levels.iter().skip(1).rev() {
            let mut parents_alive = BTreeSet::new();
            for policy in &alive {
                if let Some(node) = level.nodes.get(policy) {
                    if node.parent_is_any {
                        authorities.insert(*policy);
                    }
                    parents_alive.extend(node.parents.iter().copied());
                }
            }
            alive = parents_alive;
        }
        let authorities_constrained = if self.newest_level().any_policy {
            PolicySet::Any
        } else {
            PolicySet::Set(authorities)
        };
        // (g)(iii): nodes of the valid_policy_node_set outside the user's set go with their
        // subtrees; an anyPolicy node at depth n stands for every policy of the user's set.
        let user_constrained = authorities_constrained.intersection(&self.user_initial_policy_set);

        if explicit_policy == 0 && user_constrained.is_empty() {
            return Err(PolicyError::new(format!(
                "after certificate {n} of {n}: an explicit policy is required and the path is \
                 valid for none of the acceptable policies (authorities' policies: {}; \
                 user-initial-policy-set: {})",
                describe(&authorities_constrained),
                describe(&self.user_initial_policy_set)
            )));
        }
        Ok(PolicyOutcome {
            authorities_constrained,
            user_constrained,
            explicit_policy_required: explicit_policy == 0,
        })
    }
}

/// Builds depth i from depth i-1 by §6.1.3(d)(1) and (d)(2).
fn next_level(
    previous: &Level,
    asserted: &BTreeSet<ObjectIdentifier>,
    any_policy_honoured: bool,
    budget: &mut GraphBudget,
    i: usize,
    n: usize,
) -> Result<Level, PolicyError> {
    let mut level = Level::default();
    let mut add_edge = |level: &mut Level,
                        child: ObjectIdentifier,
                        parent: ObjectIdentifier|
     -> Result<(), PolicyError> {
        if !level.nodes.contains_key(&child) {
            budget.charge(1, i, n)?;
        }
        if level.nodes.entry(child).or_default().parents.insert(parent) {
            budget.charge(1, i, n)?;
        }
        Ok(())
    };
    for (parent_policy, parent) in &previous.nodes {
        for expected in parent.expected_policies(parent_policy) {
            // (d)(1)(i) for asserted policies; (d)(2) adds the other expected policies.
            if any_policy_honoured || asserted.contains(expected) {
                add_edge(&mut level, *expected, *parent_policy)?;
            }
        }
    }
    if previous.any_policy {
        // (d)(1)(ii): asserted policies no node of depth i-1 expects hang from anyPolicy.
        for policy in asserted {
            if !level.nodes.contains_key(policy) {
                budget.charge(2, i, n)?;
                level.nodes.insert(
                    *policy,
                    PolicyNode {
                        parent_is_any: true,
                        ..PolicyNode::default()
                    },
                );
            }
        }
        // (d)(2): the anyPolicy node expects anyPolicy.
        if any_policy_honoured {
            budget.charge(2, i, n)?;
            level.any_policy = true;
        }
    }
    Ok(level)
}

fn policy_name(policy: &ObjectIdentifier) -> String {
    if *policy == ANY_POLICY {
        "anyPolicy".to_owned()
    } else {
        policy.to_string()
    }
}

fn describe(set: &PolicySet) -> String {
    match set {
        PolicySet::Any => "any-policy".to_owned(),
        PolicySet::Set(policies) if policies.is_empty() => "none".to_owned(),
        PolicySet::Set(policies) => policies
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use std::time::{Duration, Instant};

    use der::asn1::{BitString, OctetString, UtcTime};
    use der::Encode;
    use x509_cert::certificate::{TbsCertificate, Version};
    use x509_cert::ext::pkix::certpolicy::PolicyInformation;
    use x509_cert::ext::pkix::PolicyMapping;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    use super::*;

    const ANY: ObjectIdentifier = ANY_POLICY;

    fn p(k: usize) -> ObjectIdentifier {
        ObjectIdentifier::new(&format!("1.3.6.1.4.1.99999.7.{k}")).unwrap()
    }

    fn set(policies: &[ObjectIdentifier]) -> PolicySet {
        PolicySet::Set(policies.iter().copied().collect())
    }

    fn raw_extension(oid: ObjectIdentifier, value: Vec<u8>) -> Extension {
        Extension {
            extn_id: oid,
            critical: false,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    fn policies(list: &[ObjectIdentifier]) -> Extension {
        let value = CertificatePolicies(
            list.iter()
                .map(|policy| PolicyInformation {
                    policy_identifier: *policy,
                    policy_qualifiers: None,
                })
                .collect(),
        );
        raw_extension(ID_CE_CERTIFICATE_POLICIES, value.to_der().unwrap())
    }

    fn mappings(pairs: &[(ObjectIdentifier, ObjectIdentifier)]) -> Extension {
        let value = PolicyMappings(
            pairs
                .iter()
                .map(|(issuer, subject)| PolicyMapping {
                    issuer_domain_policy: *issuer,
                    subject_domain_policy: *subject,
                })
                .collect(),
        );
        raw_extension(ID_CE_POLICY_MAPPINGS, value.to_der().unwrap())
    }

    fn constraints(require_explicit: Option<u32>, inhibit_mapping: Option<u32>) -> Extension {
        let value = PolicyConstraints {
            require_explicit_policy: require_explicit,
            inhibit_policy_mapping: inhibit_mapping,
        };
        raw_extension(ID_CE_POLICY_CONSTRAINTS, value.to_der().unwrap())
    }

    fn inhibit_any(skip_certs: u32) -> Extension {
        raw_extension(
            ID_CE_INHIBIT_ANY_POLICY,
            InhibitAnyPolicy(skip_certs).to_der().unwrap(),
        )
    }

    /// A certificate carrying `extensions`; names, key and signature do not matter here.
    fn cert(extensions: Vec<Extension>) -> Certificate {
        let algorithm = AlgorithmIdentifierOwned {
            oid: ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2"),
            parameters: None,
        };
        let time = Time::UtcTime(UtcTime::from_unix_duration(Duration::from_secs(0)).unwrap());
        Certificate {
            tbs_certificate: TbsCertificate {
                version: Version::V3,
                serial_number: SerialNumber::new(&[1]).unwrap(),
                signature: algorithm.clone(),
                issuer: Name::default(),
                validity: Validity {
                    not_before: time,
                    not_after: time,
                },
                subject: Name::default(),
                subject_public_key_info: SubjectPublicKeyInfoOwned {
                    algorithm: algorithm.clone(),
                    subject_public_key: BitString::from_bytes(&[0]).unwrap(),
                },
                issuer_unique_id: None,
                subject_unique_id: None,
                extensions: (!extensions.is_empty()).then_some(extensions),
            },
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&[0]).unwrap(),
        }
    }

    /// A certificate issued by another entity.
    fn issued(extensions: Vec<Extension>) -> (Certificate, bool) {
        (cert(extensions), false)
    }

    /// A certificate whose issuer and subject names match.
    fn self_issued(extensions: Vec<Extension>) -> (Certificate, bool) {
        (cert(extensions), true)
    }

    fn run(
        inputs: &PolicyInputs,
        path: &[(Certificate, bool)],
    ) -> Result<PolicyOutcome, PolicyError> {
        let mut state = PolicyState::new(inputs, path.len());
        for (index, (certificate, is_self_issued)) in path.iter().enumerate() {
            state.process(certificate, index + 1, *is_self_issued)?;
        }
        state.finish()
    }

    fn explicit() -> PolicyInputs {
        PolicyInputs {
            initial_explicit_policy: true,
            ..PolicyInputs::default()
        }
    }

    fn explicit_for(user_set: &[ObjectIdentifier]) -> PolicyInputs {
        PolicyInputs {
            initial_policy_set: Some(user_set.to_vec()),
            ..explicit()
        }
    }

    fn error_of(result: Result<PolicyOutcome, PolicyError>) -> String {
        match result {
            Ok(outcome) => panic!("the path passed policy processing: {outcome:?}"),
            Err(error) => error.reason,
        }
    }

    #[test]
    fn one_policy_at_every_depth_satisfies_explicit_policy() {
        let path = [
            issued(vec![policies(&[p(1)])]),
            issued(vec![policies(&[p(1)])]),
            issued(vec![policies(&[p(1)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1)]));
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
        assert!(outcome.explicit_policy_required);
    }

    #[test]
    fn intermediate_without_policies_fails_only_when_explicit_policy_is_required() {
        let path = [
            issued(vec![policies(&[p(1)])]),
            issued(vec![]),
            issued(vec![policies(&[p(1)])]),
        ];
        let reason = error_of(run(&explicit(), &path));
        assert!(reason.starts_with("certificate 2 of 3:"), "{reason}");

        let outcome = run(&PolicyInputs::default(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[]));
        assert_eq!(outcome.user_constrained, set(&[]));
        assert!(!outcome.explicit_policy_required);
    }

    #[test]
    fn end_entity_without_policies_fails_when_explicit_policy_is_required() {
        let path = [issued(vec![policies(&[p(1)])]), issued(vec![])];
        let reason = error_of(run(&explicit(), &path));
        assert!(reason.starts_with("certificate 2 of 2:"), "{reason}");
    }

    #[test]
    fn any_policy_in_the_middle_carries_the_policy_above_it() {
        let carried = [
            issued(vec![policies(&[p(1)])]),
            issued(vec![policies(&[ANY])]),
            issued(vec![policies(&[p(1)])]),
        ];
        let outcome = run(&explicit(), &carried).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));

        // anyPolicy below a CA restricted to p1 does not let p2 in.
        let foreign = [
            issued(vec![policies(&[p(1)])]),
            issued(vec![policies(&[ANY])]),
            issued(vec![policies(&[p(2)])]),
        ];
        let reason = error_of(run(&explicit(), &foreign));
        assert!(reason.starts_with("certificate 3 of 3:"), "{reason}");
    }

    #[test]
    fn any_policy_throughout_gives_any_policy_or_the_users_set() {
        let path = [
            issued(vec![policies(&[ANY])]),
            issued(vec![policies(&[ANY])]),
            issued(vec![policies(&[ANY])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, PolicySet::Any);
        assert_eq!(outcome.user_constrained, PolicySet::Any);

        let outcome = run(&explicit_for(&[p(1), p(2)]), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, PolicySet::Any);
        assert_eq!(outcome.user_constrained, set(&[p(1), p(2)]));
    }

    #[test]
    fn user_initial_policy_set_is_intersected() {
        let path = [
            issued(vec![policies(&[p(1), p(2)])]),
            issued(vec![policies(&[p(1), p(2)])]),
            issued(vec![policies(&[p(1), p(2)])]),
        ];
        let outcome = run(&explicit_for(&[p(2), p(3)]), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1), p(2)]));
        assert_eq!(outcome.user_constrained, set(&[p(2)]));

        let reason = error_of(run(&explicit_for(&[p(3)]), &path));
        assert!(reason.starts_with("after certificate 3 of 3:"), "{reason}");

        let not_explicit = PolicyInputs {
            initial_policy_set: Some(vec![p(3)]),
            ..PolicyInputs::default()
        };
        let outcome = run(&not_explicit, &path).unwrap();
        assert_eq!(outcome.user_constrained, set(&[]));

        // A user set naming anyPolicy is any-policy.
        let outcome = run(&explicit_for(&[p(3), ANY]), &path).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1), p(2)]));
    }

    #[test]
    fn mapping_chain_is_reported_in_the_anchor_domain() {
        let path = [
            issued(vec![policies(&[p(1)]), mappings(&[(p(1), p(2))])]),
            issued(vec![policies(&[p(2)]), mappings(&[(p(2), p(3))])]),
            issued(vec![policies(&[p(3)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1)]));
        assert_eq!(
            run(&explicit_for(&[p(1)]), &path).unwrap().user_constrained,
            set(&[p(1)])
        );
        error_of(run(&explicit_for(&[p(2)]), &path));
        error_of(run(&explicit_for(&[p(3)]), &path));
    }

    #[test]
    fn mapping_under_any_policy_creates_the_issuer_domain_policy() {
        // §6.1.4(b)(1): p1 is not asserted but anyPolicy is, so a p1 node is made for the
        // mapping, child of the root.
        let path = [
            issued(vec![policies(&[ANY]), mappings(&[(p(1), p(2))])]),
            issued(vec![policies(&[p(2)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1)]));
        error_of(run(&explicit_for(&[p(2)]), &path));

        // §6.1.3(d)(1)(ii): no node expects p1 any more, so an asserted p1 hangs from anyPolicy.
        let path = [
            issued(vec![policies(&[ANY]), mappings(&[(p(1), p(2))])]),
            issued(vec![policies(&[p(1)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1)]));
    }

    #[test]
    fn mappings_apply_to_asserted_and_any_policy_nodes_alike() {
        let path = [
            issued(vec![
                policies(&[p(1), ANY]),
                mappings(&[(p(1), p(2)), (p(3), p(4))]),
            ]),
            issued(vec![policies(&[p(2), p(4)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1), p(3)]));
        assert_eq!(
            run(&explicit_for(&[p(3)]), &path).unwrap().user_constrained,
            set(&[p(3)])
        );
    }

    #[test]
    fn policies_mapped_to_one_keep_every_origin() {
        let path = [
            issued(vec![
                policies(&[p(1), p(2)]),
                mappings(&[(p(1), p(3)), (p(2), p(3))]),
            ]),
            issued(vec![policies(&[p(3)])]),
        ];
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.authorities_constrained, set(&[p(1), p(2)]));
        assert_eq!(
            run(&explicit_for(&[p(2), p(5)]), &path)
                .unwrap()
                .user_constrained,
            set(&[p(2)])
        );
    }

    #[test]
    fn initial_policy_mapping_inhibit_deletes_the_mapped_policies() {
        let inputs = PolicyInputs {
            initial_policy_mapping_inhibit: true,
            ..explicit()
        };
        let mapped = |end_entity_policy| {
            [
                issued(vec![policies(&[p(1), p(2)]), mappings(&[(p(1), p(3))])]),
                issued(vec![policies(&[end_entity_policy])]),
            ]
        };
        let reason = error_of(run(&inputs, &mapped(p(3))));
        assert!(reason.starts_with("certificate 2 of 2:"), "{reason}");
        error_of(run(&inputs, &mapped(p(1))));
        let outcome = run(&inputs, &mapped(p(2))).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(2)]));

        // Without the inhibition the same path maps p1 to p3.
        let outcome = run(&explicit(), &mapped(p(3))).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
    }

    #[test]
    fn inhibit_policy_mapping_counts_the_certificates_that_may_map() {
        let path = |skip_certs| {
            [
                issued(vec![policies(&[p(1)]), constraints(None, Some(skip_certs))]),
                issued(vec![policies(&[p(1)]), mappings(&[(p(1), p(2))])]),
                issued(vec![policies(&[p(2)]), mappings(&[(p(2), p(3))])]),
                issued(vec![policies(&[p(3)])]),
            ]
        };
        let outcome = run(&explicit(), &path(2)).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
        // One certificate may still map; the second mapping deletes p2 at depth 3.
        let reason = error_of(run(&explicit(), &path(1)));
        assert!(reason.starts_with("certificate 4 of 4:"), "{reason}");
        // No certificate may map; the first mapping deletes p1 at depth 2.
        let reason = error_of(run(&explicit(), &path(0)));
        assert!(reason.starts_with("certificate 3 of 4:"), "{reason}");
    }

    #[test]
    fn inhibit_any_policy_counts_the_certificates_that_may_assert_it() {
        let path = |skip_certs, end_entity_policy| {
            [
                issued(vec![policies(&[p(1)]), inhibit_any(skip_certs)]),
                issued(vec![policies(&[ANY])]),
                issued(vec![policies(&[end_entity_policy])]),
            ]
        };
        let reason = error_of(run(&explicit(), &path(0, p(1))));
        assert!(reason.starts_with("certificate 2 of 3:"), "{reason}");
        let outcome = run(&explicit(), &path(1, p(1))).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
        let reason = error_of(run(&explicit(), &path(1, ANY)));
        assert!(reason.starts_with("certificate 3 of 3:"), "{reason}");
        assert!(run(&explicit(), &path(2, ANY)).is_ok());
    }

    #[test]
    fn initial_any_policy_inhibit_ignores_any_policy_from_the_start() {
        let path = [
            issued(vec![policies(&[ANY])]),
            issued(vec![policies(&[p(1)])]),
        ];
        let inputs = PolicyInputs {
            initial_any_policy_inhibit: true,
            ..explicit()
        };
        let reason = error_of(run(&inputs, &path));
        assert!(reason.starts_with("certificate 1 of 2:"), "{reason}");
        assert!(run(&explicit(), &path).is_ok());
    }

    #[test]
    fn self_issued_certificates_do_not_count_for_require_explicit_policy() {
        let path = |second: fn(Vec<Extension>) -> (Certificate, bool)| {
            [
                issued(vec![policies(&[p(1)]), constraints(Some(2), None)]),
                second(vec![policies(&[p(1)])]),
                issued(vec![]),
            ]
        };
        let outcome = run(&PolicyInputs::default(), &path(self_issued)).unwrap();
        assert!(!outcome.explicit_policy_required);
        assert_eq!(outcome.user_constrained, set(&[]));
        let reason = error_of(run(&PolicyInputs::default(), &path(issued)));
        assert!(reason.starts_with("after certificate 3 of 3:"), "{reason}");
    }

    #[test]
    fn self_issued_certificates_do_not_count_for_inhibit_any_policy() {
        let path = |second: fn(Vec<Extension>) -> (Certificate, bool)| {
            [
                issued(vec![policies(&[p(1)]), inhibit_any(1)]),
                second(vec![policies(&[ANY])]),
                issued(vec![policies(&[ANY])]),
                issued(vec![policies(&[p(1)])]),
            ]
        };
        assert!(run(&explicit(), &path(self_issued)).is_ok());
        let reason = error_of(run(&explicit(), &path(issued)));
        assert!(reason.starts_with("certificate 3 of 4:"), "{reason}");
    }

    #[test]
    fn self_issued_intermediate_may_assert_any_policy_once_inhibited() {
        let path = |second: fn(Vec<Extension>) -> (Certificate, bool)| {
            [
                issued(vec![policies(&[p(1)]), inhibit_any(0)]),
                second(vec![policies(&[ANY])]),
                issued(vec![policies(&[p(1)])]),
            ]
        };
        assert!(run(&explicit(), &path(self_issued)).is_ok());
        error_of(run(&explicit(), &path(issued)));

        // The exception is for intermediates: a self-issued end entity gets none.
        let path = [
            issued(vec![policies(&[p(1)]), inhibit_any(0)]),
            self_issued(vec![policies(&[ANY])]),
        ];
        let reason = error_of(run(&explicit(), &path));
        assert!(reason.starts_with("certificate 2 of 2:"), "{reason}");
    }

    #[test]
    fn require_explicit_policy_reached_exactly_at_the_end_entity() {
        let path = |skip_certs, end_entity: Vec<Extension>| {
            [
                issued(vec![policies(&[p(1)]), constraints(Some(skip_certs), None)]),
                issued(vec![policies(&[p(1)])]),
                issued(end_entity),
            ]
        };
        let outcome = run(&PolicyInputs::default(), &path(2, vec![policies(&[p(1)])])).unwrap();
        assert!(outcome.explicit_policy_required);
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
        let reason = error_of(run(&PolicyInputs::default(), &path(2, vec![])));
        assert!(reason.starts_with("after certificate 3 of 3:"), "{reason}");
        let outcome = run(&PolicyInputs::default(), &path(3, vec![])).unwrap();
        assert!(!outcome.explicit_policy_required);
    }

    #[test]
    fn end_entity_policy_constraints_count_only_when_zero() {
        let path = |require_explicit| {
            [
                issued(vec![policies(&[p(1)])]),
                issued(vec![constraints(Some(require_explicit), None)]),
            ]
        };
        // §6.1.5(b) applies requireExplicitPolicy 0 of the end entity.
        let reason = error_of(run(&PolicyInputs::default(), &path(0)));
        assert!(reason.starts_with("after certificate 2 of 2:"), "{reason}");
        // §6.1.4(i) does not run for the end entity, so 1 lowers nothing.
        let outcome = run(&PolicyInputs::default(), &path(1)).unwrap();
        assert!(!outcome.explicit_policy_required);
    }

    #[test]
    fn end_entity_policy_mappings_are_not_processed() {
        // §6.1.4 runs for certificates 1 to n-1 only (OpenSSL 3.0 applies the end entity's
        // mappings and would delete p1 here).
        let inputs = PolicyInputs {
            initial_policy_mapping_inhibit: true,
            ..explicit()
        };
        let path = [
            issued(vec![policies(&[p(1)])]),
            issued(vec![policies(&[p(1)]), mappings(&[(p(1), p(2))])]),
        ];
        let outcome = run(&inputs, &path).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
    }

    #[test]
    fn mappings_from_any_policy_need_any_policy_to_be_honoured() {
        // §6.1.4(b)(1) makes a node for an unasserted issuer domain policy only from an
        // anyPolicy node at depth i, which inhibitAnyPolicy prevents (OpenSSL 3.0 makes it).
        let path = [
            issued(vec![policies(&[p(2), ANY]), mappings(&[(p(1), p(3))])]),
            issued(vec![policies(&[p(3)])]),
        ];
        let inhibited = PolicyInputs {
            initial_any_policy_inhibit: true,
            ..explicit()
        };
        let reason = error_of(run(&inhibited, &path));
        assert!(reason.starts_with("certificate 2 of 2:"), "{reason}");
        let outcome = run(&explicit(), &path).unwrap();
        assert_eq!(outcome.user_constrained, set(&[p(1)]));
    }

    #[test]
    fn mapping_any_policy_is_refused() {
        let from_any = [
            issued(vec![policies(&[ANY]), mappings(&[(ANY, p(1))])]),
            issued(vec![policies(&[p(1)])]),
        ];
        let reason = error_of(run(&PolicyInputs::default(), &from_any));
        assert!(
            reason.starts_with("certificate 1 of 2:") && reason.contains("anyPolicy"),
            "{reason}"
        );
        let to_any = [
            issued(vec![policies(&[p(1)]), mappings(&[(p(1), ANY)])]),
            issued(vec![policies(&[p(1)])]),
        ];
        error_of(run(&PolicyInputs::default(), &to_any));
        // §6.1.4(a) holds even when no policy is left to map.
        let null_tree = [
            issued(vec![]),
            issued(vec![mappings(&[(p(1), ANY)])]),
            issued(vec![]),
        ];
        let reason = error_of(run(&PolicyInputs::default(), &null_tree));
        assert!(reason.starts_with("certificate 2 of 3:"), "{reason}");
    }

    #[test]
    fn malformed_policy_extensions_are_refused() {
        let empty_sequence = vec![0x30, 0x00];
        let cases = [
            (
                raw_extension(ID_CE_POLICY_CONSTRAINTS, empty_sequence.clone()),
                "malformed policyConstraints",
            ),
            (
                raw_extension(ID_CE_CERTIFICATE_POLICIES, empty_sequence.clone()),
                "malformed certificatePolicies",
            ),
            (
                raw_extension(ID_CE_POLICY_MAPPINGS, empty_sequence),
                "malformed policyMappings",
            ),
            (policies(&[p(1), p(2), p(1)]), "more than once"),
            (policies(&[ANY, ANY]), "more than once"),
            (
                raw_extension(ID_CE_INHIBIT_ANY_POLICY, vec![0x02, 0x01, 0xff]),
                "malformed inhibitAnyPolicy",
            ),
            (
                raw_extension(ID_CE_CERTIFICATE_POLICIES, vec![0x04, 0x00]),
                "malformed certificatePolicies",
            ),
        ];
        for (extension, expected) in cases {
            let path = [issued(vec![extension]), issued(vec![])];
            let reason = error_of(run(&PolicyInputs::default(), &path));
            assert!(
                reason.starts_with("certificate 1 of 2:") && reason.contains(expected),
                "{expected}: {reason}"
            );
        }
        let twice = [
            issued(vec![policies(&[p(1)]), policies(&[p(2)])]),
            issued(vec![]),
        ];
        let reason = error_of(run(&PolicyInputs::default(), &twice));
        assert!(reason.contains("appears more than once"), "{reason}");
        // The end entity's policyConstraints is read for §6.1.5(b), so it is checked too.
        let end_entity = [
            issued(vec![]),
            issued(vec![raw_extension(
                ID_CE_POLICY_CONSTRAINTS,
                vec![0x30, 0x00],
            )]),
        ];
        error_of(run(&PolicyInputs::default(), &end_entity));
    }

    #[test]
    fn certificates_out_of_order_are_refused() {
        let certificate = cert(vec![policies(&[p(1)])]);
        let mut state = PolicyState::new(&PolicyInputs::default(), 2);
        assert!(state.process(&certificate, 2, false).is_err());
        // The state refuses any further use once it has failed.
        assert!(state.process(&certificate, 1, false).is_err());

        let mut state = PolicyState::new(&PolicyInputs::default(), 2);
        state.process(&certificate, 1, false).unwrap();
        let reason = state.finish().unwrap_err().reason;
        assert!(reason.contains("after 1 of 2"), "{reason}");

        let mut state = PolicyState::new(&PolicyInputs::default(), 1);
        state.process(&certificate, 1, false).unwrap();
        assert!(state.process(&certificate, 2, false).is_err());
    }

    #[test]
    fn path_of_the_trust_anchor_alone_is_valid_for_any_policy() {
        let outcome = run(&explicit_for(&[p(4)]), &[]).unwrap();
        assert_eq!(outcome.authorities_constrained, PolicySet::Any);
        assert_eq!(outcome.user_constrained, set(&[p(4)]));
    }

    /// Every CA asserts `width` policies and maps each to all of them: the valid_policy_tree
    /// of RFC 5280 would hold `width` to the power of the depth nodes at the last depth.
    fn crossed_mappings_path(width: usize, depth: usize) -> Vec<(Certificate, bool)> {
        let asserted: Vec<_> = (0..width).map(p).collect();
        let pairs: Vec<_> = asserted
            .iter()
            .flat_map(|issuer| asserted.iter().map(move |subject| (*issuer, *subject)))
            .collect();
        let mut path: Vec<_> = (1..depth)
            .map(|_| issued(vec![policies(&asserted), mappings(&pairs)]))
            .collect();
        path.push(issued(vec![policies(&asserted)]));
        path
    }

    #[test]
    fn crossed_mappings_stay_linear_in_the_graph() {
        let (width, depth) = (8, 12);
        let path = crossed_mappings_path(width, depth);
        let started = Instant::now();
        let mut state = PolicyState::new(&explicit(), path.len());
        for (index, (certificate, is_self_issued)) in path.iter().enumerate() {
            state
                .process(certificate, index + 1, *is_self_issued)
                .unwrap();
        }
        let graph_size = state.budget.used;
        let outcome = state.finish().unwrap();
        let elapsed = started.elapsed();
        eprintln!(
            "width {width}, depth {depth}: tree of {width}^{depth} leaves, graph size \
             {graph_size}, {elapsed:?}"
        );
        // Each depth holds `width` nodes, width² edges and width² mapped policies.
        assert!(
            graph_size <= 1 + 2 + depth * (width + 2 * width * width),
            "{graph_size}"
        );
        assert_eq!(
            outcome.authorities_constrained,
            PolicySet::Set((0..width).map(p).collect())
        );
    }

    #[test]
    fn policy_graph_cap_refuses_hostile_paths_early() {
        let (width, depth) = (40, 10);
        let path = crossed_mappings_path(width, depth);
        let started = Instant::now();
        let reason = error_of(run(&explicit(), &path));
        let elapsed = started.elapsed();
        eprintln!("width {width}, depth {depth}: refused in {elapsed:?}: {reason}");
        assert!(reason.contains("exceeds 10000"), "{reason}");
        // Refused at the depth where the cap is crossed, not at the end of the path.
        assert!(
            !reason.starts_with(&format!("certificate {depth} ")),
            "{reason}"
        );

        let small = [
            issued(vec![policies(&[p(1), p(2)])]),
            issued(vec![policies(&[p(1), p(2)])]),
        ];
        let mut state = PolicyState::with_max_graph_size(&PolicyInputs::default(), 2, 4);
        let reason = state.process(&small[0].0, 1, false).unwrap_err().reason;
        assert!(reason.starts_with("certificate 1 of 2:"), "{reason}");
    }

    /// RFC 5280 §6.1 policy processing with the literal valid_policy_tree, for comparison.
    mod literal_tree {
        use super::*;

        #[derive(Debug)]
        struct TreeNode {
            policy: ObjectIdentifier,
            expected: BTreeSet<ObjectIdentifier>,
            parent: Option<usize>,
            depth: usize,
            alive: bool,
        }

        #[derive(Debug)]
        pub(super) struct Certificate {
            pub(super) policies: Option<Vec<ObjectIdentifier>>,
            pub(super) mappings: Vec<(ObjectIdentifier, ObjectIdentifier)>,
            pub(super) constraints: Option<(Option<u32>, Option<u32>)>,
            pub(super) inhibit_any: Option<u32>,
            pub(super) self_issued: bool,
        }

        #[derive(Debug, PartialEq, Eq)]
        pub(super) enum Outcome {
            /// authorities-constrained, user-constrained, explicit policy required at the end.
            Valid(PolicySet, PolicySet, bool),
            /// Failed at certificate i; 0 for the wrap-up.
            Invalid(usize),
        }

        struct Tree(Vec<TreeNode>);

        impl Tree {
            fn add(
                &mut self,
                parent: Option<usize>,
                policy: ObjectIdentifier,
                expected: BTreeSet<ObjectIdentifier>,
                depth: usize,
            ) {
                self.0.push(TreeNode {
                    policy,
                    expected,
                    parent,
                    depth,
                    alive: true,
                });
            }

            fn is_null(&self) -> bool {
                !self.0[0].alive
            }

            fn at_depth(&self, depth: usize) -> Vec<usize> {
                (0..self.0.len())
                    .filter(|&x| self.0[x].alive && self.0[x].depth == depth)
                    .collect()
            }

            fn children(&self, x: usize) -> Vec<usize> {
                (0..self.0.len())
                    .filter(|&c| self.0[c].alive && self.0[c].parent == Some(x))
                    .collect()
            }

            /// Deletes nodes of depth `max_depth` or less without children, repeatedly.
            fn prune(&mut self, max_depth: usize) {
                loop {
                    let mut has_child = vec![false; self.0.len()];
                    for node in self.0.iter().filter(|node| node.alive) {
                        if let Some(parent) = node.parent {
                            has_child[parent] = true;
                        }
                    }
                    let mut changed = false;
                    for (x, node) in self.0.iter_mut().enumerate() {
                        if node.alive && node.depth <= max_depth && !has_child[x] {
                            node.alive = false;
                            changed = true;
                        }
                    }
                    if !changed {
                        return;
                    }
                }
            }

            fn delete_subtree(&mut self, x: usize) {
                self.0[x].alive = false;
                for child in self.children(x) {
                    self.delete_subtree(child);
                }
            }

            fn clear(&mut self) {
                for node in &mut self.0 {
                    node.alive = false;
                }
            }

            /// Alive nodes whose parent is an anyPolicy node.
            fn valid_policy_node_set(&self) -> Vec<usize> {
                (0..self.0.len())
                    .filter(|&x| {
                        self.0[x].alive
                            && self.0[x]
                                .parent
                                .is_some_and(|parent| self.0[parent].policy == ANY)
                    })
                    .collect()
            }

            fn authorities(&self, n: usize) -> PolicySet {
                if self.at_depth(n).iter().any(|&x| self.0[x].policy == ANY) {
                    return PolicySet::Any;
                }
                PolicySet::Set(
                    self.valid_policy_node_set()
                        .into_iter()
                        .map(|x| self.0[x].policy)
                        .filter(|policy| *policy != ANY)
                        .collect(),
                )
            }
        }

        pub(super) fn validate(inputs: &PolicyInputs, path: &[Certificate]) -> Outcome {
            let n = path.len();
            let mut tree = Tree(Vec::new());
            tree.add(None, ANY, [ANY].into(), 0);
            let initial = |inhibited: bool| if inhibited { 0 } else { n + 1 };
            let mut explicit_policy = initial(inputs.initial_explicit_policy);
            let mut inhibit_any_policy = initial(inputs.initial_any_policy_inhibit);
            let mut policy_mapping = initial(inputs.initial_policy_mapping_inhibit);
            for (index, cert) in path.iter().enumerate() {
                let i = index + 1;
                match &cert.policies {
                    Some(policies) if !tree.is_null() => {
                        let previous = tree.at_depth(i - 1);
                        for policy in policies.iter().filter(|policy| **policy != ANY) {
                            let mut matched = false;
                            for &x in &previous {
                                if tree.0[x].expected.contains(policy) {
                                    tree.add(Some(x), *policy, [*policy].into(), i);
                                    matched = true;
                                }
                            }
                            if !matched {
                                if let Some(&any) =
                                    previous.iter().find(|&&x| tree.0[x].policy == ANY)
                                {
                                    tree.add(Some(any), *policy, [*policy].into(), i);
                                }
                            }
                        }
                        if policies.contains(&ANY)
                            && (inhibit_any_policy > 0 || (i < n && cert.self_issued))
                        {
                            for &x in &previous {
                                let expected: Vec<_> = tree.0[x].expected.iter().copied().collect();
                                for value in expected {
                                    let present =
                                        tree.children(x).iter().any(|&c| tree.0[c].policy == value);
                                    if !present {
                                        tree.add(Some(x), value, [value].into(), i);
                                    }
                                }
                            }
                        }
                        tree.prune(i - 1);
                    }
                    Some(_) => {}
                    None => tree.clear(),
                }
                if explicit_policy == 0 && tree.is_null() {
                    return Outcome::Invalid(i);
                }
                if i == n {
                    if cert
                        .constraints
                        .is_some_and(|(require, _)| require == Some(0))
                    {
                        explicit_policy = 0;
                    }
                    break;
                }
                let mut equivalents: BTreeMap<ObjectIdentifier, BTreeSet<ObjectIdentifier>> =
                    BTreeMap::new();
                for (issuer, subject) in &cert.mappings {
                    equivalents.entry(*issuer).or_default().insert(*subject);
                }
                for (issuer, subjects) in equivalents {
                    let holders: Vec<_> = tree
                        .at_depth(i)
                        .into_iter()
                        .filter(|&x| tree.0[x].policy == issuer)
                        .collect();
                    if policy_mapping > 0 {
                        if holders.is_empty() {
                            let any = tree
                                .at_depth(i)
                                .into_iter()
                                .find(|&x| tree.0[x].policy == ANY);
                            if let Some(any) = any {
                                let parent = tree.0[any].parent;
                                tree.add(parent, issuer, subjects, i);
                            }
                        } else {
                            for x in holders {
                                tree.0[x].expected = subjects.clone();
                            }
                        }
                    } else {
                        for x in holders {
                            tree.0[x].alive = false;
                        }
                        tree.prune(i - 1);
                    }
                }
                if !cert.self_issued {
                    explicit_policy = explicit_policy.saturating_sub(1);
                    policy_mapping = policy_mapping.saturating_sub(1);
                    inhibit_any_policy = inhibit_any_policy.saturating_sub(1);
                }
                if let Some((require, inhibit)) = cert.constraints {
                    if let Some(require) = require {
                        explicit_policy = explicit_policy.min(require as usize);
                    }
                    if let Some(inhibit) = inhibit {
                        policy_mapping = policy_mapping.min(inhibit as usize);
                    }
                }
                if let Some(skip_certs) = cert.inhibit_any {
                    inhibit_any_policy = inhibit_any_policy.min(skip_certs as usize);
                }
            }
            // Wrap-up; (b) was applied with certificate n above, after (a) in RFC order:
            // (a) only lowers a non-zero value, so the order does not matter.
            explicit_policy = explicit_policy.saturating_sub(1);
            let authorities = tree.authorities(n);
            let user = match &inputs.initial_policy_set {
                None => authorities.clone(),
                Some(user_set) if user_set.contains(&ANY) => authorities.clone(),
                Some(_) if tree.is_null() => PolicySet::Set(BTreeSet::new()),
                Some(user_set) => {
                    for x in tree.valid_policy_node_set() {
                        if tree.0[x].policy != ANY && !user_set.contains(&tree.0[x].policy) {
                            tree.delete_subtree(x);
                        }
                    }
                    let any_at_n = tree
                        .at_depth(n)
                        .into_iter()
                        .find(|&x| tree.0[x].policy == ANY);
                    if let Some(any) = any_at_n {
                        let present: BTreeSet<_> = tree
                            .valid_policy_node_set()
                            .into_iter()
                            .map(|x| tree.0[x].policy)
                            .collect();
                        let parent = tree.0[any].parent;
                        for policy in user_set {
                            if !present.contains(policy) {
                                tree.add(parent, *policy, [*policy].into(), n);
                            }
                        }
                        tree.0[any].alive = false;
                    }
                    tree.prune(n - 1);
                    let user: BTreeSet<_> = tree
                        .valid_policy_node_set()
                        .into_iter()
                        .map(|x| tree.0[x].policy)
                        .filter(|policy| *policy != ANY)
                        .collect();
                    PolicySet::Set(user)
                }
            };
            if explicit_policy == 0 && tree.is_null() {
                return Outcome::Invalid(0);
            }
            Outcome::Valid(authorities, user, explicit_policy == 0)
        }
    }

    /// A small deterministic generator (xorshift) for the random paths below.
    struct Random(u64);

    impl Random {
        fn below(&mut self, bound: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % bound
        }

        fn chance(&mut self, percent: u64) -> bool {
            self.below(100) < percent
        }

        fn skip_certs(&mut self) -> u32 {
            self.below(4) as u32
        }
    }

    fn random_path(random: &mut Random) -> (PolicyInputs, Vec<literal_tree::Certificate>) {
        let pool = [p(0), p(1), p(2), ANY];
        let inputs = PolicyInputs {
            initial_policy_set: random
                .chance(50)
                .then(|| (0..4).map(p).filter(|_| random.chance(50)).collect()),
            initial_policy_mapping_inhibit: random.chance(15),
            initial_explicit_policy: random.chance(40),
            initial_any_policy_inhibit: random.chance(15),
        };
        let length = 1 + random.below(5) as usize;
        let path = (0..length)
            .map(|_| {
                let policies = random.chance(85).then(|| {
                    let chosen: Vec<_> =
                        pool.iter().copied().filter(|_| random.chance(45)).collect();
                    if chosen.is_empty() {
                        vec![ANY]
                    } else {
                        chosen
                    }
                });
                let mappings = if random.chance(45) {
                    (0..1 + random.below(4))
                        .map(|_| (p(random.below(3) as usize), p(random.below(3) as usize)))
                        .collect()
                } else {
                    Vec::new()
                };
                let constraints = random.chance(20).then(|| {
                    let require = random.chance(60).then(|| random.skip_certs());
                    let inhibit =
                        (require.is_none() || random.chance(50)).then(|| random.skip_certs());
                    (require, inhibit)
                });
                literal_tree::Certificate {
                    policies,
                    mappings,
                    constraints,
                    inhibit_any: random.chance(20).then(|| random.skip_certs()),
                    self_issued: random.chance(20),
                }
            })
            .collect();
        (inputs, path)
    }

    fn encode(certificate: &literal_tree::Certificate) -> Certificate {
        let mut extensions = Vec::new();
        if let Some(list) = &certificate.policies {
            extensions.push(policies(list));
        }
        if !certificate.mappings.is_empty() {
            extensions.push(mappings(&certificate.mappings));
        }
        if let Some((require, inhibit)) = certificate.constraints {
            extensions.push(constraints(require, inhibit));
        }
        if let Some(skip_certs) = certificate.inhibit_any {
            extensions.push(inhibit_any(skip_certs));
        }
        cert(extensions)
    }

    #[test]
    fn policy_graph_agrees_with_the_literal_tree_on_random_paths() {
        let mut random = Random(0x5eed_1234_abcd_0001);
        let mut valid_paths = 0;
        let mut mapped_paths = 0;
        for case in 0..4000 {
            let (inputs, path) = random_path(&mut random);
            let expected = literal_tree::validate(&inputs, &path);
            let certificates: Vec<_> = path
                .iter()
                .map(|certificate| (encode(certificate), certificate.self_issued))
                .collect();
            let actual = match run(&inputs, &certificates) {
                Ok(outcome) => literal_tree::Outcome::Valid(
                    outcome.authorities_constrained,
                    outcome.user_constrained,
                    outcome.explicit_policy_required,
                ),
                Err(error) if error.reason.starts_with("after certificate") => {
                    literal_tree::Outcome::Invalid(0)
                }
                Err(error) => {
                    let position = error.reason["certificate ".len()..]
                        .split(' ')
                        .next()
                        .unwrap()
                        .parse()
                        .unwrap();
                    literal_tree::Outcome::Invalid(position)
                }
            };
            assert_eq!(actual, expected, "case {case}: {inputs:?} {path:#?}");
            if matches!(expected, literal_tree::Outcome::Valid(..)) {
                valid_paths += 1;
            }
            if path
                .iter()
                .any(|certificate| !certificate.mappings.is_empty())
            {
                mapped_paths += 1;
            }
        }
        eprintln!("{valid_paths} valid paths, {mapped_paths} with mappings");
        // The generator must exercise both outcomes and mappings for the comparison to mean much.
        assert!(valid_paths > 1000 && valid_paths < 3500, "{valid_paths}");
        assert!(mapped_paths > 1000, "{mapped_paths}");
    }
}
