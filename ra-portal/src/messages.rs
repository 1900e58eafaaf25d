//! French wording of the CA core's errors, shown next to the field or on the error page.

use ca::{Error, IdKind};

fn kind(k: IdKind) -> &'static str {
    match k {
        IdKind::Rpps => "Le numéro RPPS",
        IdKind::Adeli => "Le numéro ADELI",
        IdKind::Finess => "Le numéro FINESS",
        IdKind::Siren => "Le numéro SIREN",
        IdKind::Siret => "Le numéro SIRET",
        IdKind::IdNatPs => "L'identifiant national (IdNat_PS)",
        IdKind::IdNatStruct => "L'identifiant de structure",
        IdKind::Departement => "Le département",
        IdKind::ProfessionCode => "Le code profession",
    }
}

pub fn french(e: &Error) -> String {
    match e {
        Error::WrongLength {
            kind: k,
            expected,
            found,
        } => format!(
            "{} doit comporter {expected} caractères (reçu : {found}).",
            kind(*k)
        ),
        Error::NotDigits { kind: k, position } => {
            format!(
                "{} ne doit contenir que des chiffres (position {position}).",
                kind(*k)
            )
        }
        Error::BadCheckDigit { kind: k, .. } => format!(
            "{} est invalide : la clé de contrôle (Luhn) ne correspond pas. Vérifiez la saisie.",
            kind(*k)
        ),
        Error::BadDepartement { kind: k, found } => {
            format!(
                "{} : « {found} » n'est pas un code de département.",
                kind(*k)
            )
        }
        Error::UnknownPrefix { kind: k, found } => format!(
            "{} : préfixe « {found} » inconnu (8 + RPPS ou 0 + ADELI).",
            kind(*k)
        ),
        Error::InvalidValue { field, reason } => {
            format!("Valeur invalide ({field}) : {reason}.")
        }
        Error::UnknownProfession { code } => format!("Profession inconnue : « {code} »."),
        Error::AlreadyRegistered { idnat } => {
            format!("Le professionnel {idnat} est déjà enregistré.")
        }
        Error::ProfessionalNotFound { idnat } => format!("Aucun professionnel {idnat}."),
        Error::ProfessionalNotActive { idnat } => format!(
            "Le professionnel {idnat} est radié : aucun certificat ne peut lui être délivré."
        ),
        Error::RequestNotFound { id } => format!("Aucune demande n° {id}."),
        Error::RequestNotInState {
            id,
            expected: ca::domain::RequestStatus::Approved,
            ..
        } => format!("La demande n° {id} n'est pas approuvée en attente d'émission."),
        Error::RequestNotInState { id, found, .. } => format!(
            "La demande n° {id} n'est plus en attente (état : {}).",
            request_status(*found)
        ),
        Error::SelfApproval { id, .. } => format!(
            "Vous avez déposé la demande n° {id} : elle doit être approuvée par un autre agent \
             (principe des quatre yeux)."
        ),
        Error::SelfConfirmation { login, .. } => format!(
            "Le compte {login} doit être confirmé par un autre administrateur que celui qui l'a \
             créé ou réinitialisé (double contrôle)."
        ),
        Error::LastAdministrators { login, minimum } => format!(
            "{login} fait partie des {minimum} derniers administrateurs actifs : le double \
             contrôle en exige deux, le compte ne peut pas être désactivé."
        ),
        Error::RequestStale { id } => format!(
            "Le professionnel ou sa vérification d'identité ont changé depuis le dépôt de la \
             demande n° {id} : elle ne peut pas être approuvée telle quelle ; rejetez-la et \
             déposez-la à nouveau."
        ),
        Error::CertificateNotFound { serial } => format!("Aucun certificat {serial}."),
        Error::AlreadyRevoked { serial } => format!("Le certificat {serial} est déjà révoqué."),
        Error::AlreadyOnHold { serial } => format!("Le certificat {serial} est déjà suspendu."),
        Error::NotOnHold { serial, .. } => {
            format!("Le certificat {serial} n'est pas suspendu : rien à réactiver.")
        }
        Error::MalformedCsr { reason } => format!(
            "La demande de certificat (CSR) est illisible : ce n'est pas une requête PKCS#10 \
             PEM ou DER valide ({reason})."
        ),
        Error::UnsupportedKey { reason } => {
            format!("La clé de la demande de certificat est refusée : {reason}.")
        }
        Error::CsrProofOfPossession { .. } => "La signature de la demande de certificat ne \
             vérifie pas : la preuve de possession de la clé privée manque."
            .to_owned(),
        Error::ProfileNotIssued { profile, .. } => {
            format!("Aucune AC ne délivre le gabarit {profile}.")
        }
        Error::Signer(_) | Error::Task(_) => "Le module de sécurité (HSM) de l'autorité de \
             certification est indisponible ; réessayez plus tard."
            .to_owned(),
        Error::RenewalRefused { reason, .. } => format!("Renouvellement refusé : {reason}."),
        Error::AuthenticationRefused { .. } => {
            "Authentification refusée : reconnectez-vous.".to_owned()
        }
        Error::NoIssuer { profile } => {
            format!("Aucune autorité de certification ne délivre le gabarit {profile}.")
        }
        Error::RevokedNotRenewable { .. } => {
            "Un certificat révoqué ne se renouvelle pas : déposez une nouvelle demande.".to_owned()
        }
        Error::OwnAccount { reset: false, .. } => {
            "Vous ne pouvez pas modifier votre propre compte.".to_owned()
        }
        Error::OwnAccount { reset: true, .. } => {
            "Vous ne pouvez pas réinitialiser votre propre compte.".to_owned()
        }
        Error::ImportJobNotFound { .. } => "Importation introuvable.".to_owned(),
        Error::LossCodeRefused => "Code de révocation incorrect, ou identifiant inconnu. \
             Vérifiez l'identifiant (IdNat ou RPPS) et le code remis avec votre carte."
            .to_owned(),
        Error::LossDeclarationLocked { until } => format!(
            "Trop de codes de révocation erronés : la déclaration en ligne est bloquée pour ce \
             professionnel jusqu'au {until}. Appelez votre Ordre : un agent peut \
             suspendre vos certificats après avoir vérifié votre identité."
        ),
        Error::LossDeclarationNotFound { id } => format!("Aucune déclaration de perte n° {id}."),
        Error::LossDeclarationClosed { id, status } => format!(
            "La déclaration n° {id} a déjà été traitée ({}).",
            loss_status(*status)
        ),
        Error::NotPermitted { .. } => {
            "Votre rôle ou votre Ordre ne permet pas cette opération sur cette demande.".to_owned()
        }
        other => format!("Opération refusée : {other}."),
    }
}

pub fn request_status(s: ca::domain::RequestStatus) -> &'static str {
    use ca::domain::RequestStatus as S;
    match s {
        S::Filed => "en attente d'approbation",
        S::Approved => "approuvée, en cours d'émission",
        S::Rejected => "rejetée",
        S::Issued => "certificat émis",
    }
}

pub fn profile_label(p: ca::domain::Profile) -> &'static str {
    use ca::domain::Profile as P;
    match p {
        P::Auth => "Authentification (AUTH)",
        P::Sign => "Signature (SIGN)",
        P::Conf => "Confidentialité (CONF)",
        P::Server => "Serveur",
        P::RaOperator => "Opérateur AE",
        P::OcspSigner => "Répondeur OCSP",
        P::TsaUnit => "Unité d'horodatage",
        P::SubCa => "AC intermédiaire",
    }
}

pub fn reason_label(r: ca::domain::RevocationReason) -> &'static str {
    use ca::domain::RevocationReason as R;
    match r {
        R::Unspecified => "Non précisée",
        R::KeyCompromise => "Compromission de la clé",
        R::CaCompromise => "Compromission de l'AC",
        R::AffiliationChanged => "Changement d'affiliation (radiation)",
        R::Superseded => "Remplacé",
        R::CessationOfOperation => "Cessation d'activité",
        R::CertificateHold => "Suspension",
        R::PrivilegeWithdrawn => "Retrait de privilège",
        R::AaCompromise => "Compromission de l'AA",
    }
}

/// Reasons a clerk may choose when revoking (certificateHold is suspension, not revocation).
pub const REVOCATION_REASONS: [ca::domain::RevocationReason; 6] = [
    ca::domain::RevocationReason::KeyCompromise,
    ca::domain::RevocationReason::AffiliationChanged,
    ca::domain::RevocationReason::Superseded,
    ca::domain::RevocationReason::CessationOfOperation,
    ca::domain::RevocationReason::PrivilegeWithdrawn,
    ca::domain::RevocationReason::Unspecified,
];

pub fn loss_status(s: ca::storage::LossStatus) -> &'static str {
    use ca::storage::LossStatus as S;
    match s {
        S::Open => "certificats suspendus, décision à prendre",
        S::Revoked => "révocation confirmée",
        S::Reinstated => "suspension levée",
    }
}

pub fn loss_channel(c: ca::storage::LossChannel) -> &'static str {
    use ca::storage::LossChannel as C;
    match c {
        C::HolderPortal => "le titulaire, en ligne",
        C::HolderApi => "le titulaire, par le logiciel de l'Ordre",
        C::Operator => "un agent de l'Ordre",
    }
}
