//! Small conversions between ABI option/string types and std ones.

use abi_stable::std_types::{ROption, RString};

use crate::{abi::RSecret, Secret};

pub(crate) fn opt<T, U>(value: ROption<T>, f: impl FnOnce(T) -> U) -> Option<U> {
    match value {
        ROption::RSome(v) => Some(f(v)),
        ROption::RNone => None,
    }
}

pub(crate) fn ropt<T, U>(value: Option<T>, f: impl FnOnce(T) -> U) -> ROption<U> {
    match value {
        Some(v) => ROption::RSome(f(v)),
        None => ROption::RNone,
    }
}

pub(crate) fn secret(value: &RSecret) -> Secret {
    Secret::new(value.expose())
}

pub(crate) fn rsecret(value: &Secret) -> RSecret {
    RSecret::new(value.expose())
}

pub(crate) fn string(value: RString) -> String {
    value.into_string()
}
