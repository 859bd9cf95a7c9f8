//! `authhost plugins new`: a plugin crate that builds, tests and installs
//! at once, with its `authhost-plugin-api` dependency pinned to this host's.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{bail, Context as _};
use authhost_plugin_api::abi::API_VERSION;

/// What the new crate holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// An outbound auth provider (`_type:` in a workflow's `authentication`):
    /// a session token exchanged for an API key, cached by the host.
    Provider,
    /// An inbound authenticator (`general.inbound_auth.type: plugin`):
    /// bearer tokens checked at an introspection endpoint.
    Authenticator,
}

/// `plugins new` arguments.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The component type name, snake_case (`session_token`); the crate is
    /// `authhost-session-token`, its library `libauthhost_session_token.so`.
    #[arg(value_name = "NAME")]
    name: String,
    /// What to make.
    #[arg(long, value_enum, default_value_t = Kind::Provider)]
    kind: Kind,
    /// The folder to create; default `./authhost-NAME`.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// Depend on the plugin-api in this checkout of authhost (its
    /// `plugin-api` folder or the checkout root). Default: the checkout
    /// this authhost was built from, when it is still there.
    #[arg(long, value_name = "DIR", conflicts_with = "plugin_api_git")]
    plugin_api_path: Option<PathBuf>,
    /// Depend on the plugin-api in this git repository instead.
    #[arg(long, value_name = "URL")]
    plugin_api_git: Option<String>,
    /// With --plugin-api-git: the tag, branch or commit to build against.
    #[arg(long, value_name = "REV", requires = "plugin_api_git")]
    plugin_api_rev: Option<String>,
}

const CARGO_TOML: &str = include_str!("template/Cargo.toml.tmpl");
const PROVIDER: &str = include_str!("template/provider.rs.tmpl");
const AUTHENTICATOR: &str = include_str!("template/authenticator.rs.tmpl");
const README: &str = include_str!("template/README.md.tmpl");
const GITIGNORE: &str = include_str!("template/gitignore.tmpl");

/// Where the plugin-api this host was built from lives, if it still does.
fn built_from_plugin_api() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugin-api");
    dir.join("Cargo.toml")
        .is_file()
        .then(|| dir.canonicalize().ok())
        .flatten()
}

/// The inside of the `authhost-plugin-api = { … }` table.
fn api_dependency(args: &NewArgs) -> anyhow::Result<String> {
    let pin = format!("version = \"={API_VERSION}\"");
    if let Some(url) = &args.plugin_api_git {
        let rev = args
            .plugin_api_rev
            .as_ref()
            .map(|r| format!(", rev = {}", toml_string(r)))
            .unwrap_or_default();
        return Ok(format!("git = {}{rev}, {pin}", toml_string(url)));
    }
    let dir = match &args.plugin_api_path {
        Some(dir) if dir.join("plugin-api/Cargo.toml").is_file() => dir.join("plugin-api"),
        Some(dir) if dir.join("Cargo.toml").is_file() => dir.clone(),
        Some(dir) => bail!(
            "--plugin-api-path {}: no Cargo.toml there or in its plugin-api folder",
            dir.display()
        ),
        None => built_from_plugin_api().context(
            "the authhost checkout this binary was built from is gone: pass --plugin-api-path DIR \
             (an authhost checkout) or --plugin-api-git URL",
        )?,
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    Ok(format!(
        "path = {}, {pin}",
        toml_string(&dir.to_string_lossy())
    ))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// `session_token` → `SessionToken`.
fn type_name(name: &str) -> String {
    name.split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// The type name, or why it cannot be one.
fn checked_name(name: &str) -> anyhow::Result<String> {
    let name = super::short_name(name);
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!(
            "`{}` cannot be a component type name: expected snake_case ASCII \
             (a lowercase letter, then letters, digits and `_`), at most 64 characters",
            crate::printable::printable(&name)
        );
    }
    Ok(name)
}

pub(super) fn run(args: NewArgs) -> anyhow::Result<ExitCode> {
    let name = checked_name(&args.name)?;
    let crate_name = format!("authhost-{}", name.replace('_', "-"));
    let dir = args
        .path
        .clone()
        .unwrap_or_else(|| PathBuf::from(&crate_name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty: choose another --path",
            dir.display()
        );
    }
    let (kind, lib_template, usage) = match args.kind {
        Kind::Provider => ("provider", PROVIDER, provider_usage(&name)),
        Kind::Authenticator => ("authenticator", AUTHENTICATOR, authenticator_usage(&name)),
    };
    let dependency = api_dependency(&args)?;
    let api_minor = API_VERSION.split('.').nth(1).unwrap_or("1");
    let fill = |template: &str| {
        template
            .replace("{{api_dependency}}", &dependency)
            .replace("{{api_minor}}", api_minor)
            .replace("{{crate}}", &crate_name)
            .replace("{{lib}}", &format!("authhost_{name}"))
            .replace("{{Type}}", &type_name(&name))
            .replace("{{name}}", &name)
            .replace("{{kind}}", kind)
            .replace(
                "{{description}}",
                &format!("The {name} {kind} for authhost"),
            )
            .replace("{{usage}}", &usage)
    };
    std::fs::create_dir_all(dir.join("src"))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (file, template) in [
        ("Cargo.toml", CARGO_TOML),
        ("src/lib.rs", lib_template),
        ("README.md", README),
        (".gitignore", GITIGNORE),
    ] {
        let path = dir.join(file);
        std::fs::write(&path, fill(template))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    // The templates are formatted for a short name; a long one may wrap
    // differently. Best effort: a machine without rustfmt keeps the text.
    let _ = std::process::Command::new("rustfmt")
        .args(["--edition", "2021"])
        .arg(dir.join("src/lib.rs"))
        .stderr(std::process::Stdio::null())
        .status();
    println!(
        "created {crate_name} in {}: the `{name}` {kind}\n\
         next:\n  cd {}\n  cargo test\n  authhost plugins install .",
        dir.display(),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn provider_usage(name: &str) -> String {
    format!(
        "## Use it in a workflow\n\n```yaml\nauthentication:\n  my_api:\n    _type: {name}\n    \
         token_url: https://api.example.com/session\n    api_key: ${{MY_API_KEY}}\n\ntools:\n  \
         whoami:\n    _type: http\n    url: https://api.example.com/me\n    auth_provider: my_api\n```"
    )
}

fn authenticator_usage(name: &str) -> String {
    format!(
        "## Use it in a workflow\n\n```yaml\ngeneral:\n  inbound_auth:\n    type: plugin\n    \
         authenticator: {name}\n    config:\n      introspection_url: \
         https://id.example.com/oauth2/introspect\n      client_id: authhost\n      \
         client_secret: ${{INTROSPECTION_SECRET}}\n```"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_rust_type_names_and_bad_names_are_refused() {
        assert_eq!(type_name("session_token"), "SessionToken");
        assert_eq!(type_name("s3"), "S3");
        assert_eq!(
            checked_name("authhost-session-token").unwrap(),
            "session_token"
        );
        for bad in ["", "9lives", "Demo", "a b", "x/../y"] {
            let err = checked_name(bad).unwrap_err().to_string();
            assert!(err.contains("expected snake_case"), "{bad}: {err}");
        }
    }
}
