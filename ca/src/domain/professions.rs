//! Professions, the seven Orders, and who may sign what — loaded as data.
//!
//! The defaults are the project's copies of the reference tables (`ca/data/professions.csv`,
//! `ca/data/signing-rules.csv`), embedded at build time; operators may load their own files
//! with the same columns instead ([`ProfessionTable::from_path`], [`SigningRules::from_path`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IdKind, Result};
use crate::vocabulary::{spelled_enum, UnknownValue};

const DEFAULT_PROFESSIONS: &str = include_str!("../../data/professions.csv");
const DEFAULT_SIGNING_RULES: &str = include_str!("../../data/signing-rules.csv");

/// A profession code of a national nomenclature (TRE_G15, TRE_R94, TRE_R95): 1 to 8 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProfessionCode(String);

string_newtype!(ProfessionCode);

impl FromStr for ProfessionCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        let found = s.chars().count();
        if !(1..=8).contains(&found) {
            return Err(Error::invalid(
                "profession code",
                format!("{found} characters, expected 1 to 8 digits"),
            ));
        }
        if let Some(i) = s.chars().position(|c| !c.is_ascii_digit()) {
            return Err(Error::NotDigits {
                kind: IdKind::ProfessionCode,
                position: i + 1,
            });
        }
        Ok(ProfessionCode(s.to_owned()))
    }
}

/// The seven professional Orders, registration authorities for their professions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    Medecins,
    Pharmaciens,
    ChirurgiensDentistes,
    SagesFemmes,
    Infirmiers,
    MasseursKinesitherapeutes,
    PedicuresPodologues,
}

impl Order {
    pub const ALL: [Order; 7] = [
        Order::Medecins,
        Order::Pharmaciens,
        Order::ChirurgiensDentistes,
        Order::SagesFemmes,
        Order::Infirmiers,
        Order::MasseursKinesitherapeutes,
        Order::PedicuresPodologues,
    ];

    /// The Order's French name, as in the reference table ("Ordre des médecins").
    pub fn french_name(self) -> &'static str {
        match self {
            Order::Medecins => "Ordre des médecins",
            Order::Pharmaciens => "Ordre des pharmaciens",
            Order::ChirurgiensDentistes => "Ordre des chirurgiens-dentistes",
            Order::SagesFemmes => "Ordre des sages-femmes",
            Order::Infirmiers => "Ordre des infirmiers",
            Order::MasseursKinesitherapeutes => "Ordre des masseurs-kinésithérapeutes",
            Order::PedicuresPodologues => "Ordre des pédicures-podologues",
        }
    }

    /// A stable ASCII identifier (URLs, configuration, role names).
    pub fn slug(self) -> &'static str {
        match self {
            Order::Medecins => "medecins",
            Order::Pharmaciens => "pharmaciens",
            Order::ChirurgiensDentistes => "chirurgiens-dentistes",
            Order::SagesFemmes => "sages-femmes",
            Order::Infirmiers => "infirmiers",
            Order::MasseursKinesitherapeutes => "masseurs-kinesitherapeutes",
            Order::PedicuresPodologues => "pedicures-podologues",
        }
    }

    pub fn from_slug(s: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.slug() == s)
    }

    pub fn from_french_name(s: &str) -> Option<Order> {
        Order::ALL.into_iter().find(|o| o.french_name() == s)
    }
}

impl fmt::Display for Order {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.french_name())
    }
}

/// Who registers the professionals of a profession: its Order, or — for professions without
/// an Order (R1110-2 social and medico-social professionals, protected titles, most health
/// professions outside the seven) — the registration office.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RegistrationAuthority {
    Order(Order),
    RegistrationOffice,
}

/// Category of a profession in the reference table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfessionCategory {
    /// Health profession (code de la santé publique).
    Sante,
    /// Social or medico-social profession of art. R1110-2 CSP.
    Social,
    /// Protected title (ostéopathe, psychologue, …).
    UsagerTitre,
}

spelled_enum!(ProfessionCategory, "profession category", {
    Sante => "sante",
    Social => "social",
    UsagerTitre => "usager-titre",
});

/// One row of the profession table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profession {
    /// Nomenclature of the code, e.g. `TRE_G15-ProfessionSante`.
    pub nomenclature: String,
    pub code: ProfessionCode,
    /// French label, e.g. `Médecin` (goes into the certificate's `title`).
    pub label: String,
    pub order: Option<Order>,
    pub category: ProfessionCategory,
}

impl Profession {
    pub fn registration_authority(&self) -> RegistrationAuthority {
        match self.order {
            Some(o) => RegistrationAuthority::Order(o),
            None => RegistrationAuthority::RegistrationOffice,
        }
    }
}

#[derive(Debug, Deserialize)]
struct ProfessionRow {
    nomenclature: String,
    code: String,
    label: String,
    order: String,
    category: String,
}

fn ref_err(source_name: &str, reason: impl fmt::Display) -> Error {
    Error::ReferenceData {
        source_name: source_name.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads the CSV rows of `text` into `T`, naming `source_name` and the line on errors.
fn read_rows<T: serde::de::DeserializeOwned>(
    source_name: &str,
    text: &str,
) -> Result<Vec<(u64, T)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ref_err(source_name, e))?
        .clone();
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| ref_err(source_name, e))?
    {
        let line = record.position().map_or(0, csv::Position::line);
        let row = record
            .deserialize(Some(&headers))
            .map_err(|e| ref_err(source_name, format!("line {line}: {e}")))?;
        rows.push((line, row));
    }
    Ok(rows)
}

fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| ref_err(&path.display().to_string(), e))
}

/// The profession table: every known profession code, its label, Order and category.
#[derive(Debug, Clone)]
pub struct ProfessionTable {
    by_code: BTreeMap<ProfessionCode, Profession>,
}

impl ProfessionTable {
    /// The table shipped with the project (`ca/data/professions.csv`).
    pub fn builtin() -> Result<Self> {
        Self::from_csv_str("builtin professions.csv", DEFAULT_PROFESSIONS)
    }

    /// Loads an operator-supplied table with the columns
    /// `nomenclature,code,label,order,category`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_csv_str(&path.display().to_string(), &read_file(path)?)
    }

    /// Parses a table; `source_name` names it in error messages. Codes must be unique
    /// across nomenclatures, Orders must be one of the seven French names.
    pub fn from_csv_str(source_name: &str, text: &str) -> Result<Self> {
        let mut by_code = BTreeMap::new();
        for (line, row) in read_rows::<ProfessionRow>(source_name, text)? {
            let at = |reason: String| ref_err(source_name, format!("line {line}: {reason}"));
            let code: ProfessionCode = row.code.parse().map_err(|e: Error| at(e.to_string()))?;
            let order = if row.order.is_empty() {
                None
            } else {
                Some(
                    Order::from_french_name(&row.order)
                        .ok_or_else(|| at(format!("unknown Order {:?}", row.order)))?,
                )
            };
            let category: ProfessionCategory = row
                .category
                .parse()
                .map_err(|e: UnknownValue| at(e.to_string()))?;
            if row.nomenclature.is_empty() || row.label.is_empty() {
                return Err(at("empty nomenclature or label".into()));
            }
            let profession = Profession {
                nomenclature: row.nomenclature,
                code: code.clone(),
                label: row.label,
                order,
                category,
            };
            if by_code.insert(code.clone(), profession).is_some() {
                return Err(at(format!("duplicate profession code {code}")));
            }
        }
        if by_code.is_empty() {
            return Err(ref_err(source_name, "no profession"));
        }
        Ok(ProfessionTable { by_code })
    }

    pub fn lookup(&self, code: &ProfessionCode) -> Option<&Profession> {
        self.by_code.get(code)
    }

    /// Like [`lookup`](Self::lookup), as an error when the code is unknown.
    pub fn get(&self, code: &ProfessionCode) -> Result<&Profession> {
        self.lookup(code).ok_or_else(|| Error::UnknownProfession {
            code: code.to_string(),
        })
    }

    /// The professions an Order registers, by code.
    pub fn professions_of(&self, order: Order) -> Vec<&Profession> {
        self.by_code
            .values()
            .filter(|p| p.order == Some(order))
            .collect()
    }

    /// The professions without an Order (the registration office's scope).
    pub fn professions_without_order(&self) -> Vec<&Profession> {
        self.by_code
            .values()
            .filter(|p| p.order.is_none())
            .collect()
    }

    /// The Order of a profession; `Ok(None)` when the profession has none.
    pub fn order_of(&self, code: &ProfessionCode) -> Result<Option<Order>> {
        Ok(self.get(code)?.order)
    }

    pub fn registration_authority(&self, code: &ProfessionCode) -> Result<RegistrationAuthority> {
        Ok(self.get(code)?.registration_authority())
    }

    pub fn iter(&self) -> impl Iterator<Item = &Profession> {
        self.by_code.values()
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }
}

/// Kinds of signed documents the validation service checks the signer's profession for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DocumentType {
    /// Ordonnance.
    Prescription,
    /// Certificat médical.
    MedicalCertificate,
    /// Certificat de décès.
    DeathCertificate,
}

spelled_enum!(DocumentType, "document type", {
    Prescription => "prescription",
    MedicalCertificate => "medical-certificate",
    DeathCertificate => "death-certificate",
});

impl DocumentType {
    pub const ALL: [DocumentType; 3] = [
        DocumentType::Prescription,
        DocumentType::MedicalCertificate,
        DocumentType::DeathCertificate,
    ];
}

/// One rule: professionals of `code` may sign documents of `document_type`, possibly within
/// a limited scope described by `note`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningRule {
    pub document_type: DocumentType,
    pub nomenclature: String,
    pub code: ProfessionCode,
    pub note: Option<String>,
}

/// Answer of [`SigningRules::may_sign`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum SigningDecision {
    /// Allowed; `note` states a scope limit when the rule has one ("limited list", …).
    Allowed { note: Option<String> },
    /// Not allowed, with a human-readable reason.
    NotAllowed { reason: String },
}

impl SigningDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, SigningDecision::Allowed { .. })
    }
}

#[derive(Debug, Deserialize)]
struct SigningRow {
    document_type: String,
    nomenclature: String,
    code: String,
    note: String,
}

/// Which professions may sign which document types.
#[derive(Debug, Clone)]
pub struct SigningRules {
    rules: BTreeMap<(DocumentType, ProfessionCode), SigningRule>,
}

impl SigningRules {
    /// The default rules shipped with the project (`ca/data/signing-rules.csv`).
    pub fn builtin() -> Result<Self> {
        Self::from_csv_str("builtin signing-rules.csv", DEFAULT_SIGNING_RULES)
    }

    /// Loads operator rules with the columns `document_type,nomenclature,code,note`.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_csv_str(&path.display().to_string(), &read_file(path)?)
    }

    pub fn from_csv_str(source_name: &str, text: &str) -> Result<Self> {
        let mut rules = BTreeMap::new();
        for (line, row) in read_rows::<SigningRow>(source_name, text)? {
            let at = |reason: String| ref_err(source_name, format!("line {line}: {reason}"));
            let document_type: DocumentType = row
                .document_type
                .parse()
                .map_err(|e: UnknownValue| at(e.to_string()))?;
            let code: ProfessionCode = row.code.parse().map_err(|e: Error| at(e.to_string()))?;
            let rule = SigningRule {
                document_type,
                nomenclature: row.nomenclature,
                code: code.clone(),
                note: (!row.note.is_empty()).then_some(row.note),
            };
            if rules.insert((document_type, code.clone()), rule).is_some() {
                return Err(at(format!("duplicate rule for {document_type} and {code}")));
            }
        }
        Ok(SigningRules { rules })
    }

    /// Checks that every rule names a profession of `table`, in the same nomenclature.
    pub fn check_against(&self, table: &ProfessionTable) -> Result<()> {
        for rule in self.rules.values() {
            let p = table.get(&rule.code)?;
            if p.nomenclature != rule.nomenclature {
                return Err(ref_err(
                    "signing rules",
                    format!(
                        "rule for {} names nomenclature {} but the profession is in {}",
                        rule.code, rule.nomenclature, p.nomenclature
                    ),
                ));
            }
        }
        Ok(())
    }

    pub fn may_sign(&self, document_type: DocumentType, code: &ProfessionCode) -> SigningDecision {
        match self.rules.get(&(document_type, code.clone())) {
            Some(rule) => SigningDecision::Allowed {
                note: rule.note.clone(),
            },
            None => SigningDecision::NotAllowed {
                reason: format!(
                    "no signing rule allows profession {code} to sign a {document_type}"
                ),
            },
        }
    }

    /// The profession codes allowed to sign `document_type`.
    pub fn signers_of(&self, document_type: DocumentType) -> BTreeSet<&ProfessionCode> {
        self.rules
            .values()
            .filter(|r| r.document_type == document_type)
            .map(|r| &r.code)
            .collect()
    }

    pub fn iter(&self) -> impl Iterator<Item = &SigningRule> {
        self.rules.values()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn code(s: &str) -> ProfessionCode {
        s.parse().unwrap()
    }

    #[test]
    fn builtin_table() {
        let t = ProfessionTable::builtin().unwrap();
        assert_eq!(t.len(), 45);
        let m = t.lookup(&code("10")).unwrap();
        assert_eq!(m.label, "Médecin");
        assert_eq!(m.order, Some(Order::Medecins));
        assert_eq!(m.category, ProfessionCategory::Sante);
        assert_eq!(t.order_of(&code("21")).unwrap(), Some(Order::Pharmaciens));
        assert_eq!(t.order_of(&code("93")).unwrap(), None);
        assert_eq!(
            t.registration_authority(&code("41")).unwrap(),
            RegistrationAuthority::RegistrationOffice
        );
        assert!(matches!(
            t.order_of(&code("99")),
            Err(Error::UnknownProfession { .. })
        ));
        let infirmiers: Vec<_> = t
            .professions_of(Order::Infirmiers)
            .into_iter()
            .map(|p| p.code.as_str())
            .collect();
        assert_eq!(infirmiers, ["60", "69"]);
        // Every Order registers at least one profession of the table.
        for o in Order::ALL {
            assert!(!t.professions_of(o).is_empty(), "{o}");
        }
        assert_eq!(
            t.professions_without_order().len()
                + Order::ALL
                    .iter()
                    .map(|&o| t.professions_of(o).len())
                    .sum::<usize>(),
            t.len()
        );
    }

    #[test]
    fn order_names_and_slugs() {
        for o in Order::ALL {
            assert_eq!(Order::from_slug(o.slug()), Some(o));
            assert_eq!(Order::from_french_name(o.french_name()), Some(o));
            assert!(o.slug().is_ascii());
        }
        assert_eq!(
            serde_json::to_string(&Order::MasseursKinesitherapeutes).unwrap(),
            "\"masseurs-kinesitherapeutes\""
        );
    }

    #[test]
    fn signing_rules() {
        let t = ProfessionTable::builtin().unwrap();
        let r = SigningRules::builtin().unwrap();
        r.check_against(&t).unwrap();
        assert!(r
            .may_sign(DocumentType::DeathCertificate, &code("10"))
            .is_allowed());
        assert!(!r
            .may_sign(DocumentType::DeathCertificate, &code("40"))
            .is_allowed());
        assert_eq!(
            r.may_sign(DocumentType::Prescription, &code("21")),
            SigningDecision::Allowed {
                note: Some("renewal and adaptation only".into())
            }
        );
        assert!(r
            .may_sign(DocumentType::MedicalCertificate, &code("50"))
            .is_allowed());
        assert!(!r
            .may_sign(DocumentType::MedicalCertificate, &code("60"))
            .is_allowed());
        assert!(!r
            .may_sign(DocumentType::Prescription, &code("93"))
            .is_allowed());
        let signers: Vec<_> = r
            .signers_of(DocumentType::Prescription)
            .into_iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(signers, ["10", "21", "40", "50", "60", "69", "70", "80"]);
    }

    #[test]
    fn operator_override_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("rules.csv");
        std::fs::write(
            &p,
            "document_type,nomenclature,code,note\ndeath-certificate,TRE_G15-ProfessionSante,50,test\n",
        )
        .unwrap();
        let r = SigningRules::from_path(&p).unwrap();
        assert!(r
            .may_sign(DocumentType::DeathCertificate, &code("50"))
            .is_allowed());
        assert!(!r
            .may_sign(DocumentType::DeathCertificate, &code("10"))
            .is_allowed());

        let p = dir.path().join("professions.csv");
        std::fs::write(
            &p,
            "nomenclature,code,label,order,category\nX,10,Médecin,Ordre des médecins,sante\n",
        )
        .unwrap();
        let t = ProfessionTable::from_path(&p).unwrap();
        assert_eq!(t.len(), 1);
        assert!(matches!(
            r.check_against(&t),
            Err(Error::UnknownProfession { .. })
        ));
    }

    #[test]
    fn bad_tables_are_refused() {
        let header = "nomenclature,code,label,order,category\n";
        for body in [
            "X,10,Médecin,Ordre des barbiers,sante\n",
            "X,10,Médecin,,santé\n",
            "X,1a,Médecin,,sante\n",
            "X,10,Médecin,,sante\nY,10,Autre,,sante\n",
            "X,10,Médecin\n",
            "",
        ] {
            let r = ProfessionTable::from_csv_str("test", &format!("{header}{body}"));
            assert!(
                matches!(r, Err(Error::ReferenceData { .. })),
                "{body:?}: {r:?}"
            );
        }
        assert!(matches!(
            SigningRules::from_csv_str(
                "t",
                "document_type,nomenclature,code,note\nautopsy,X,10,\n"
            ),
            Err(Error::ReferenceData { .. })
        ));
        assert!(ProfessionTable::from_path("/nonexistent/professions.csv").is_err());
    }
}
