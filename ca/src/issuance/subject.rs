//! Subject names of end-entity certificates (DESIGN.md §3), decided by the CA from the
//! registry — never copied from the request.
//!
//! * professional: `C=FR, O=<structure, or the Order, or the registration office>,
//!   [OU=<IdNat_Struct>,] title=<profession label>, CN=<IdNat_PS>+SN=<surname>+GN=<given names>`
//! * server: `C=FR, ST=<département name (code)>, O=<structure>, OU=<IdNat_Struct>, CN=<host>`
//! * RA operator: `C=FR, O=<operator organization>, OU=Autorité d'enregistrement, CN=<login>`

use pkix::{Attr, DnBuilder};
use x509_cert::name::Name;

use crate::domain::{ActorId, Departement, Profession, Professional, Structure};
use crate::error::{Error, Result};

/// OU of RA operator certificates.
pub const OPERATOR_OU: &str = "Autorité d'enregistrement";

/// The subject of a professional's certificate.
pub fn professional_dn(
    professional: &Professional,
    profession: &Profession,
    structure: Option<&Structure>,
    registration_office: &str,
) -> Result<(Name, String)> {
    let organization = match (structure, profession.order) {
        (Some(s), _) => s.name.as_str().to_owned(),
        (None, Some(order)) => order.french_name().to_owned(),
        (None, None) => registration_office.to_owned(),
    };
    let mut dn = DnBuilder::new().country("FR").organization(organization);
    if let Some(s) = structure {
        dn = dn.organizational_unit(s.idnat.to_string());
    }
    let dn = dn.title(profession.label.clone()).multi([
        (Attr::CommonName, professional.idnat.to_string()),
        (Attr::Surname, professional.surname.as_str().to_owned()),
        (
            Attr::GivenName,
            professional.given_names.as_str().to_owned(),
        ),
    ]);
    Ok((dn.build()?, dn.to_string()))
}

/// The subject of an establishment server certificate; `host` is the first DNS name.
pub fn server_dn(structure: &Structure, host: &str) -> Result<(Name, String)> {
    let dn = DnBuilder::new()
        .country("FR")
        .state(departement_label(&structure.departement))
        .organization(structure.name.as_str())
        .organizational_unit(structure.idnat.to_string())
        .common_name(host);
    Ok((dn.build()?, dn.to_string()))
}

/// The subject of an RA operator (clerk) certificate.
pub fn operator_dn(operator: &ActorId, organization: &str) -> Result<(Name, String)> {
    let dn = DnBuilder::new()
        .country("FR")
        .organization(organization)
        .organizational_unit(OPERATOR_OU)
        .common_name(operator.as_str());
    Ok((dn.build()?, dn.to_string()))
}

/// Checks and normalises the DNS names of a server certificate: at least one, lower case,
/// LDH labels of 1 to 63 characters, at least two labels, at most 253 characters, no
/// wildcard, no duplicate.
pub fn check_dns_names(names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Err(Error::invalid(
            "DNS names",
            "a server certificate needs at least one dNSName",
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(names.len());
    for raw in names {
        let name = raw.trim().trim_end_matches('.').to_ascii_lowercase();
        let bad = |why: &str| Error::invalid("DNS name", format!("{raw:?}: {why}"));
        if name.is_empty() || name.len() > 253 {
            return Err(bad("1 to 253 characters"));
        }
        let labels: Vec<&str> = name.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("a fully qualified name has at least two labels"));
        }
        for label in &labels {
            let ok = (1..=63).contains(&label.len()) && is_ldh(label);
            if !ok {
                return Err(bad(
                    "labels are 1 to 63 letters, digits or inner hyphens (no wildcard)",
                ));
            }
        }
        if labels
            .last()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(bad("an IP address is not a DNS name"));
        }
        if name.len() > 64 && out.is_empty() {
            return Err(bad("the first name becomes the CN, at most 64 characters"));
        }
        if out.contains(&name) {
            return Err(bad("listed twice"));
        }
        out.push(name);
    }
    Ok(out)
}

/// `Paris (75)`; the bare code for a code without a known name.
pub fn departement_label(d: &Departement) -> String {
    match departement_name(d.as_str()) {
        Some(name) => format!("{name} ({})", d.as_str()),
        None => d.as_str().to_owned(),
    }
}

/// Name of a département (or overseas collectivity) by INSEE code.
pub fn departement_name(code: &str) -> Option<&'static str> {
    DEPARTEMENTS
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, n)| *n)
}

const DEPARTEMENTS: &[(&str, &str)] = &[
    ("01", "Ain"),
    ("02", "Aisne"),
    ("03", "Allier"),
    ("04", "Alpes-de-Haute-Provence"),
    ("05", "Hautes-Alpes"),
    ("06", "Alpes-Maritimes"),
    ("07", "Ardèche"),
    ("08", "Ardennes"),
    ("09", "Ariège"),
    ("10", "Aube"),
    ("11", "Aude"),
    ("12", "Aveyron"),
    ("13", "Bouches-du-Rhône"),
    ("14", "Calvados"),
    ("15", "Cantal"),
    ("16", "Charente"),
    ("17", "Charente-Maritime"),
    ("18", "Cher"),
    ("19", "Corrèze"),
    ("2A", "Corse-du-Sud"),
    ("2B", "Haute-Corse"),
    ("21", "Côte-d'Or"),
    ("22", "Côtes-d'Armor"),
    ("23", "Creuse"),
    ("24", "Dordogne"),
    ("25", "Doubs"),
    ("26", "Drôme"),
    ("27", "Eure"),
    ("28", "Eure-et-Loir"),
    ("29", "Finistère"),
    ("30", "Gard"),
    ("31", "Haute-Garonne"),
    ("32", "Gers"),
    ("33", "Gironde"),
    ("34", "Hérault"),
    ("35", "Ille-et-Vilaine"),
    ("36", "Indre"),
    ("37", "Indre-et-Loire"),
    ("38", "Isère"),
    ("39", "Jura"),
    ("40", "Landes"),
    ("41", "Loir-et-Cher"),
    ("42", "Loire"),
    ("43", "Haute-Loire"),
    ("44", "Loire-Atlantique"),
    ("45", "Loiret"),
    ("46", "Lot"),
    ("47", "Lot-et-Garonne"),
    ("48", "Lozère"),
    ("49", "Maine-et-Loire"),
    ("50", "Manche"),
    ("51", "Marne"),
    ("52", "Haute-Marne"),
    ("53", "Mayenne"),
    ("54", "Meurthe-et-Moselle"),
    ("55", "Meuse"),
    ("56", "Morbihan"),
    ("57", "Moselle"),
    ("58", "Nièvre"),
    ("59", "Nord"),
    ("60", "Oise"),
    ("61", "Orne"),
    ("62", "Pas-de-Calais"),
    ("63", "Puy-de-Dôme"),
    ("64", "Pyrénées-Atlantiques"),
    ("65", "Hautes-Pyrénées"),
    ("66", "Pyrénées-Orientales"),
    ("67", "Bas-Rhin"),
    ("68", "Haut-Rhin"),
    ("69", "Rhône"),
    ("70", "Haute-Saône"),
    ("71", "Saône-et-Loire"),
    ("72", "Sarthe"),
    ("73", "Savoie"),
    ("74", "Haute-Savoie"),
    ("75", "Paris"),
    ("76", "Seine-Maritime"),
    ("77", "Seine-et-Marne"),
    ("78", "Yvelines"),
    ("79", "Deux-Sèvres"),
    ("80", "Somme"),
    ("81", "Tarn"),
    ("82", "Tarn-et-Garonne"),
    ("83", "Var"),
    ("84", "Vaucluse"),
    ("85", "Vendée"),
    ("86", "Vienne"),
    ("87", "Haute-Vienne"),
    ("88", "Vosges"),
    ("89", "Yonne"),
    ("90", "Territoire de Belfort"),
    ("91", "Essonne"),
    ("92", "Hauts-de-Seine"),
    ("93", "Seine-Saint-Denis"),
    ("94", "Val-de-Marne"),
    ("95", "Val-d'Oise"),
    ("971", "Guadeloupe"),
    ("972", "Martinique"),
    ("973", "Guyane"),
    ("974", "La Réunion"),
    ("975", "Saint-Pierre-et-Miquelon"),
    ("976", "Mayotte"),
    ("977", "Saint-Barthélemy"),
    ("978", "Saint-Martin"),
    ("984", "Terres australes et antarctiques françaises"),
    ("986", "Wallis-et-Futuna"),
    ("987", "Polynésie française"),
    ("988", "Nouvelle-Calédonie"),
];

/// Whether `s` is made of lower-case letters, digits and hyphens, with no hyphen at either
/// end (a DNS label, a name in URLs).
pub(super) fn is_ldh(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dns_names() {
        assert_eq!(
            check_dns_names(&["WWW.Example.FR.".into(), "api.example.fr".into()]).unwrap(),
            ["www.example.fr", "api.example.fr"]
        );
        for bad in [
            "",
            "localhost",
            "*.example.fr",
            "a..fr",
            "-a.fr",
            "10.0.0.1",
            "é.fr",
        ] {
            assert!(check_dns_names(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(check_dns_names(&[]).is_err());
        assert!(check_dns_names(&["a.fr".into(), "A.fr".into()]).is_err());
    }

    #[test]
    fn departements() {
        assert_eq!(
            departement_label(&"75".parse().unwrap()),
            "Paris (75)".to_owned()
        );
        assert_eq!(
            departement_label(&"2a".parse().unwrap()),
            "Corse-du-Sud (2A)".to_owned()
        );
        assert_eq!(departement_label(&"985".parse().unwrap()), "985");
        assert_eq!(DEPARTEMENTS.len(), 96 + 12);
        for (code, _) in DEPARTEMENTS {
            assert!(code.parse::<Departement>().is_ok(), "{code}");
        }
    }
}
