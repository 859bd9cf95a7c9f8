//! Plugins: where they are found, how they are loaded and checked, and the
//! registry of the components they offer.

mod discovery;
mod elf_check;
mod error;
mod handle;
mod host_services;
pub mod kept_store;
mod kind;
mod loader;
mod permissions;
pub(crate) use permissions::insecure_reason;
mod pins;
mod registry;

pub use discovery::{SearchPath, SearchSource};
pub use error::{CallError, CreateError, LoadError};
pub use handle::{AuthenticatorHandle, ProviderHandle};
pub use host_services::HostServicesImpl;
pub use kind::ComponentKind;
pub use loader::{load_plugin, LoadedPlugin, PluginAbout};
pub use pins::{sha256_file, Pin};
pub use registry::{Component, PluginRegistry};
