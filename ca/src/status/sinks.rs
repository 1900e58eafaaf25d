//! The sinks: the CRL publisher, the OCSP responder, and several at once.

use std::sync::Arc;

use super::{SinkFuture, SinkReport, StatusChange, StatusSink};
use crate::crl::CrlPublisher;
use crate::error::Error;
use crate::ocsp::OcspResponder;

/// The CRL publisher signs again the partitions that list the changed certificates and the
/// full CRL of their CA (concurrent changes coalesce, see
/// [`CrlPublisher::refresh_after_change`]).
impl StatusSink for CrlPublisher {
    fn status_changed<'a>(&'a self, change: &'a StatusChange) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut report = SinkReport::default();
            for (ca, partitions) in &change.partitions {
                if self.authority(ca).is_none() {
                    report.crl_error = Some(Error::UnknownCa {
                        name: ca.to_string(),
                    });
                    continue;
                }
                match self.refresh_after_change(ca, partitions).await {
                    Ok(v) => report.crls.extend(v),
                    Err(e) => {
                        tracing::error!(ca = %ca, error = %e, "CRL regeneration after a revocation change failed");
                        report.crl_error = Some(e);
                    }
                }
            }
            report
        })
    }
}

/// The OCSP responder drops its cached answers for the changed certificates and signs new
/// ones in the background: this instance answers the new status at once.
impl StatusSink for OcspResponder {
    fn status_changed<'a>(&'a self, change: &'a StatusChange) -> SinkFuture<'a> {
        for serial in &change.serials {
            self.notify_status_change(serial);
        }
        Box::pin(std::future::ready(SinkReport::default()))
    }
}

/// Several sinks, told one after the other in the order given.
#[derive(Debug, Clone, Default)]
pub struct StatusSinks(Vec<Arc<dyn StatusSink>>);

impl StatusSinks {
    pub fn new(sinks: Vec<Arc<dyn StatusSink>>) -> Self {
        StatusSinks(sinks)
    }

    /// No sink: for commands that change no certificate's status.
    pub fn none() -> Self {
        StatusSinks(Vec::new())
    }
}

impl StatusSink for StatusSinks {
    fn status_changed<'a>(&'a self, change: &'a StatusChange) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut report = SinkReport::default();
            for sink in &self.0 {
                report.merge(sink.status_changed(change).await);
            }
            report
        })
    }
}
