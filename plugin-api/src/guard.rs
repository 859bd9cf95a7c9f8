//! Panic guards: a panic in plugin code becomes an error, never an abort.
//!
//! Unwinding across `extern "C"` aborts the host, so every entry point the
//! SDK exports runs plugin code inside `catch_unwind`, futures included.

use std::{
    any::Any,
    future::Future,
    panic::{catch_unwind, AssertUnwindSafe},
    pin::Pin,
    task::{Context, Poll},
};

use abi_stable::std_types::RResult;
use async_ffi::{FfiFuture, FutureExt};

use crate::{abi::PluginError, Error, ErrorKind};

/// Where plugin code runs, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Site {
    pub(crate) plugin: &'static str,
    pub(crate) component: &'static str,
    pub(crate) operation: &'static str,
}

impl Site {
    pub(crate) fn panicked(&self, payload: &(dyn Any + Send)) -> Error {
        let detail = payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "non-string panic payload".to_owned());
        let message = if self.component.is_empty() {
            format!(
                "plugin {} panicked in {}: {detail}",
                self.plugin, self.operation
            )
        } else {
            format!(
                "plugin {} panicked in {} of `{}`: {detail}",
                self.plugin, self.operation, self.component
            )
        };
        Error::new(ErrorKind::Panicked, message)
    }
}

/// Runs `f`, turning a panic into an error that names the site.
pub(crate) fn guard_sync<T>(site: Site, f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|payload| Err(site.panicked(&*payload)))
}

/// Builds and wraps a future so a panic while building or polling it becomes
/// an error, then converts it to an FFI future.
pub(crate) fn guard_future<T, F>(
    site: Site,
    make: impl FnOnce() -> F,
) -> FfiFuture<RResult<T, PluginError>>
where
    T: Send + 'static,
    F: Future<Output = Result<T, Error>> + Send + 'static,
{
    match catch_unwind(AssertUnwindSafe(make)) {
        Ok(fut) => Guarded { fut, site }.into_ffi(),
        Err(payload) => {
            let err = site.panicked(&*payload);
            async move { RResult::RErr(PluginError::from(err)) }.into_ffi()
        }
    }
}

pin_project_lite::pin_project! {
    /// A plugin future whose panics become errors naming the plugin.
    struct Guarded<F> {
        #[pin]
        fut: F,
        site: Site,
    }
}

impl<T, F> Future for Guarded<F>
where
    F: Future<Output = Result<T, Error>>,
{
    type Output = RResult<T, PluginError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let site = *this.site;
        let fut = this.fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(result)) => Poll::Ready(result.map_err(PluginError::from).into()),
            Err(payload) => Poll::Ready(RResult::RErr(PluginError::from(site.panicked(&*payload)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Site = Site {
        plugin: "p",
        component: "c",
        operation: "op",
    };

    #[test]
    fn sync_panic_becomes_error() {
        let err = guard_sync::<()>(SITE, || panic!("boom")).expect_err("panic is an error");
        assert_eq!(err.kind(), ErrorKind::Panicked);
        assert_eq!(err.message(), "plugin p panicked in op of `c`: boom");
    }

    #[test]
    fn future_panic_becomes_error() {
        let fut = guard_future::<(), _>(SITE, || async { panic!("inside {}", 1) });
        let err = futures_executor::block_on(fut)
            .into_result()
            .expect_err("error");
        assert_eq!(err.kind, ErrorKind::Panicked);
        assert!(err.message.contains("inside 1"), "{}", err.message);
    }

    #[test]
    fn panic_while_building_future_becomes_error() {
        let fut =
            guard_future::<(), std::future::Ready<Result<(), Error>>>(SITE, || panic!("early"));
        let err = futures_executor::block_on(fut)
            .into_result()
            .expect_err("error");
        assert!(err.message.contains("early"));
    }
}
