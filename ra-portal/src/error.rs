//! The one error type of the portal, rendered as a French HTML page.

use askama::Template as _;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::views::MessagePage;

#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// No valid session: GET pages redirect to the login page.
    #[error("authentification requise")]
    Unauthenticated,
    /// Session in the enrolment stage on another page.
    #[error("enrôlement TOTP requis")]
    EnrolmentPending,
    /// Already logged in: back to the dashboard.
    #[error("déjà connecté")]
    GoHome,
    #[error("accès refusé : {0}")]
    Forbidden(String),
    /// The operator tried to approve their own request.
    #[error("accès refusé : {0}")]
    FourEyes(String),
    #[error("jeton anti-CSRF absent ou invalide")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    Unavailable(String),
    /// The operator has too much under way (a per-operator limit), not the service.
    #[error("{0}")]
    TooManyRequests(String),
    #[error("erreur interne : {0}")]
    Internal(String),
}

impl From<ca::Error> for PortalError {
    fn from(e: ca::Error) -> Self {
        use ca::Error as E;
        let msg = crate::messages::french(&e);
        match e {
            E::ProfessionalNotFound { .. }
            | E::StructureNotFound { .. }
            | E::RequestNotFound { .. }
            | E::CertificateNotFound { .. }
            | E::LossDeclarationNotFound { .. }
            | E::ImportJobNotFound { .. } => PortalError::NotFound(msg),
            E::LossCodeRefused => PortalError::Forbidden(msg),
            E::LossDeclarationLocked { .. } => PortalError::TooManyRequests(msg),
            E::SelfApproval { .. } | E::SelfConfirmation { .. } => PortalError::FourEyes(msg),
            E::NotPermitted { .. } => PortalError::Forbidden(msg),
            E::AuthenticationRefused { .. } => PortalError::Unauthenticated,
            E::AlreadyRegistered { .. }
            | E::RequestNotInState { .. }
            | E::AlreadyRevoked { .. }
            | E::AlreadyOnHold { .. }
            | E::NotOnHold { .. }
            | E::ProfessionalNotActive { .. }
            | E::LastAdministrators { .. }
            | E::RequestStale { .. }
            | E::RevokedNotRenewable { .. }
            | E::LossDeclarationClosed { .. }
            | E::OwnAccount { .. } => PortalError::Conflict(msg),
            E::Signer(_) | E::Task(_) | E::NoIssuer { .. } => PortalError::Unavailable(msg),
            E::Database(_) | E::Migration(_) | E::CorruptRow { .. } => {
                tracing::error!(error = %e, "storage error in the RA portal");
                PortalError::Internal("base de données indisponible".into())
            }
            _ => PortalError::BadRequest(msg),
        }
    }
}

impl From<askama::Error> for PortalError {
    fn from(e: askama::Error) -> Self {
        PortalError::Internal(format!("gabarit : {e}"))
    }
}

impl PortalError {
    pub fn status(&self) -> StatusCode {
        match self {
            PortalError::Unauthenticated => StatusCode::UNAUTHORIZED,
            PortalError::EnrolmentPending | PortalError::GoHome => StatusCode::SEE_OTHER,
            PortalError::Forbidden(_) | PortalError::FourEyes(_) | PortalError::Csrf => {
                StatusCode::FORBIDDEN
            }
            PortalError::NotFound(_) => StatusCode::NOT_FOUND,
            PortalError::Conflict(_) => StatusCode::CONFLICT,
            PortalError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            PortalError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PortalError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            PortalError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            PortalError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            PortalError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for PortalError {
    fn into_response(self) -> Response {
        match self {
            PortalError::Unauthenticated => {
                let mut r = Redirect::to("/connexion").into_response();
                *r.status_mut() = StatusCode::SEE_OTHER;
                return r;
            }
            PortalError::EnrolmentPending => return Redirect::to("/enrolement").into_response(),
            PortalError::GoHome => return Redirect::to("/").into_response(),
            _ => {}
        }
        let status = self.status();
        let (title, message) = match &self {
            PortalError::Internal(detail) => {
                tracing::error!(detail = %detail, "RA portal internal error");
                (
                    "Erreur interne",
                    "Une erreur interne est survenue ; l'opération n'a pas été effectuée."
                        .to_owned(),
                )
            }
            PortalError::Forbidden(_) | PortalError::FourEyes(_) | PortalError::Csrf => {
                ("Accès refusé", self.to_string())
            }
            PortalError::NotFound(_) => ("Introuvable", self.to_string()),
            PortalError::Conflict(_) => ("Opération impossible", self.to_string()),
            PortalError::Unavailable(_) => ("Service indisponible", self.to_string()),
            PortalError::TooManyRequests(_) => ("Trop de demandes en cours", self.to_string()),
            _ => ("Requête refusée", self.to_string()),
        };
        let page = MessagePage {
            layout: crate::views::Layout::anonymous(title),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (
                status,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                title,
            )
                .into_response(),
        }
    }
}

pub type PortalResult<T> = Result<T, PortalError>;
