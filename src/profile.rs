//! Profiles as runs see them (SPEC §2, §8): each profile's own settings (stored on its
//! employee record, checked here, overridden one for one run by command-line flags) turned
//! into export and ingest options, and the choice of the profiles that `--all` runs and the
//! watcher work on: an inactive employee is passed over (with a note in its folder), and
//! two employees whose profiles would share one folder are an error for both.
//!
//! The drivers (`cli`, `watch`) call [`select_all`], [`one`] and [`resolve`]; the folder
//! move of a renamed employee is `export::follow_folder`.

use std::path::Path;

use serde::Serialize;

use crate::codec::outlook_csv::Encoding;
use crate::codec::text::DateFormat;
use crate::codec::vcard;
use crate::error::{Error, Result};
use crate::export::plan::Threshold;
use crate::export::{self, Layout, Outputs};
use crate::fields::{CSV_LANGUAGES, VCARD_VERSIONS};
use crate::fsutil;
use crate::ingest;
use crate::model::Value;
use crate::store::{Profile, Store, domain};

/// Encoding names tried for the list of valid ones; those the CSV codec accepts are shown.
const ENCODING_NAMES: &[&str] = &[
    "utf-8",
    "utf-16",
    "windows-1252",
    "windows-1250",
    "shift_jis",
];

/// The defaults of the settings, as `status` shows them.
pub const DEFAULT_DATE_FORMAT: &str = "M/D/YYYY";
pub const DEFAULT_CSV_LANGUAGE: &str = "en";
pub const DEFAULT_CSV_ENCODING: &str = "utf-8";
pub const DEFAULT_VCARD_VERSION: &str = "3.0";
pub const DEFAULT_OUTPUTS: &str = "vdir,outlook,outlook-vcards";
pub const DEFAULT_FULL_CSV_LIMIT: u64 = 20_000;
/// The guards' defaults (README "Guards"): an export stops before removing more than half
/// of a profile's items when that is at least 20 items; an ingest before changing more
/// than half of them (at least 20), or before blanking more than 3 fields.
pub const DEFAULT_REMOVAL_GUARD: Threshold = Threshold {
    percent: 50,
    min: 20,
};
pub const DEFAULT_CHANGE_GUARD: Threshold = Threshold {
    percent: 50,
    min: 20,
};
pub const DEFAULT_BLANK_GUARD_MAX: u64 = 3;

/// The guard settings that are numbers, with their defaults and their largest value.
const GUARD_SETTINGS: &[(&str, u64, u64)] = &[
    ("removal_guard_percent", DEFAULT_REMOVAL_GUARD.percent, 100),
    (
        "removal_guard_min",
        DEFAULT_REMOVAL_GUARD.min,
        u32::MAX as u64,
    ),
    ("change_guard_percent", DEFAULT_CHANGE_GUARD.percent, 100),
    (
        "change_guard_min",
        DEFAULT_CHANGE_GUARD.min,
        u32::MAX as u64,
    ),
    ("blank_guard_max", DEFAULT_BLANK_GUARD_MAX, u32::MAX as u64),
];

/// The default of a per-profile setting, as text; `None` for other fields.
pub fn default_of(name: &str) -> Option<String> {
    Some(match name {
        "date_format" => DEFAULT_DATE_FORMAT.into(),
        "csv_language" => DEFAULT_CSV_LANGUAGE.into(),
        "csv_encoding" => DEFAULT_CSV_ENCODING.into(),
        "vcard_version" => DEFAULT_VCARD_VERSION.into(),
        "outputs" => DEFAULT_OUTPUTS.into(),
        "full_csv_limit" => DEFAULT_FULL_CSV_LIMIT.to_string(),
        "csv_safe" => "false".into(),
        _ => {
            return GUARD_SETTINGS
                .iter()
                .find(|(n, _, _)| *n == name)
                .map(|(_, d, _)| d.to_string());
        }
    })
}

/// Settings given on the command line for one run; each one given overrides the
/// profile's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub date_format: Option<String>,
    pub csv_language: Option<String>,
    pub csv_encoding: Option<String>,
    pub vcard_version: Option<String>,
    pub outputs: Option<String>,
    pub full_csv_limit: Option<u64>,
    pub csv_safe: Option<bool>,
}

/// A profile's settings in effect for one run.
#[derive(Debug, Clone)]
pub struct Effective {
    pub dates: DateFormat,
    /// The language of the Outlook CSV headers (a code of [`CSV_LANGUAGES`]).
    pub csv_language: &'static str,
    pub encoding: Encoding,
    /// The spelling the encoding was given in (for `status`).
    pub encoding_name: String,
    pub vcard: vcard::Version,
    pub outputs: Outputs,
    pub full_csv_limit: u64,
    pub csv_safe: bool,
    /// An export that would remove more than this stops (unless allowed).
    pub removal_guard: Threshold,
    /// An ingest that would change more than this stops (unless allowed).
    pub change_guard: Threshold,
    /// An ingest that would blank more than this many fields stops (unless allowed).
    pub blank_guard_max: u64,
}

impl Effective {
    /// The export options of the profile.
    pub fn export_options(&self) -> export::Options {
        export::Options {
            vcard: self.vcard,
            encoding: self.encoding,
            dates: self.dates.clone(),
            full_sheet_limit: self.full_csv_limit,
            outputs: self.outputs,
            csv_safe: self.csv_safe,
            // A checked code (`parse_language`), so it parses.
            csv_language: self.csv_language.parse().unwrap_or_default(),
            removal_guard: self.removal_guard,
            ..Default::default()
        }
    }

    /// The ingest options of the profile (the caller adds its own: dry run, limits).
    pub fn ingest_options(&self) -> ingest::Options {
        ingest::Options {
            dates: self.dates.clone(),
            change_guard: self.change_guard,
            blank_guard_max: self.blank_guard_max,
            ..Default::default()
        }
    }

    /// The settings in effect as (name, value) text, in the field table's order.
    pub fn shown(&self) -> Vec<(&'static str, String)> {
        vec![
            ("date_format", self.dates.pattern().to_string()),
            ("csv_language", self.csv_language.to_string()),
            ("csv_encoding", self.encoding_name.clone()),
            ("vcard_version", self.vcard.as_str().to_string()),
            ("outputs", outputs_text(self.outputs)),
            ("full_csv_limit", self.full_csv_limit.to_string()),
            ("csv_safe", self.csv_safe.to_string()),
            (
                "removal_guard_percent",
                self.removal_guard.percent.to_string(),
            ),
            ("removal_guard_min", self.removal_guard.min.to_string()),
            (
                "change_guard_percent",
                self.change_guard.percent.to_string(),
            ),
            ("change_guard_min", self.change_guard.min.to_string()),
            ("blank_guard_max", self.blank_guard_max.to_string()),
        ]
    }
}

fn outputs_text(o: Outputs) -> String {
    o.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// Parses a date format setting.
pub fn parse_date_format(s: &str) -> Result<DateFormat> {
    DateFormat::parse(s.trim())
}

/// Parses a CSV language setting into its code.
pub fn parse_language(s: &str) -> Result<&'static str> {
    CSV_LANGUAGES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| {
            Error::invalid(format!(
                "csv_language '{s}' is not one of: {}",
                CSV_LANGUAGES.join(", ")
            ))
        })
}

/// The encodings the Outlook CSV codec accepts.
pub fn encoding_names() -> Vec<&'static str> {
    ENCODING_NAMES
        .iter()
        .copied()
        .filter(|n| Encoding::parse(n).is_some())
        .collect()
}

/// Parses a CSV encoding setting.
pub fn parse_encoding(s: &str) -> Result<Encoding> {
    Encoding::parse(s.trim()).ok_or_else(|| {
        Error::invalid(format!(
            "csv_encoding '{s}' is not one of: {}",
            encoding_names().join(", ")
        ))
    })
}

/// Parses a vCard version setting (3.0 or 4.0; Outlook's own files are always 2.1).
pub fn parse_vcard(s: &str) -> Result<vcard::Version> {
    match VCARD_VERSIONS.iter().find(|v| **v == s.trim()) {
        Some(v) => Ok(vcard::Version::parse(v).expect("listed version")),
        None => Err(Error::invalid(format!(
            "vcard_version '{s}' is not one of: {}",
            VCARD_VERSIONS.join(", ")
        ))),
    }
}

/// Parses an outputs setting.
pub fn parse_outputs(s: &str) -> Result<Outputs> {
    Outputs::parse(s).map_err(|e| Error::invalid(format!("outputs '{s}': {e}")))
}

/// Checks a value `admin` is about to store in a per-profile setting, in the spelling
/// it is stored in; other fields pass unchanged.
pub fn check_setting(name: &str, v: Value) -> Result<Value> {
    let Value::Text(s) = &v else {
        return match (name, &v) {
            ("full_csv_limit", Value::Int(n)) if *n < 0 => Err(Error::invalid(format!(
                "employee.full_csv_limit: {n} is not a number of items (0 or more)"
            ))),
            (_, Value::Int(n)) => match GUARD_SETTINGS.iter().find(|(g, _, _)| *g == name) {
                Some((_, _, max)) if *n < 0 || *n as u64 > *max => Err(Error::invalid(format!(
                    "employee.{name}: {n} is out of range: give 0 to {max}"
                ))),
                _ => Ok(v),
            },
            _ => Ok(v),
        };
    };
    let checked = |r: Result<String>| {
        r.map(Value::Text)
            .map_err(|e| Error::invalid(format!("employee.{name}: {e}")))
    };
    match name {
        "date_format" => checked(parse_date_format(s).map(|d| d.pattern().to_string())),
        "csv_language" => checked(parse_language(s).map(str::to_string)),
        "csv_encoding" => checked(parse_encoding(s).map(|_| s.trim().to_ascii_lowercase())),
        "vcard_version" => checked(parse_vcard(s).map(|v| v.as_str().to_string())),
        "outputs" => checked(parse_outputs(s).map(outputs_text)),
        _ => Ok(v),
    }
}

/// The settings in effect for one run of `p`: each flag given in `over`, else the
/// profile's own setting, else the default. A bad stored value names the employee and
/// the fix; a bad flag names the flag.
pub fn resolve(p: &Profile, over: &Overrides) -> Result<Effective> {
    fn pick<'a, T>(
        p: &Profile,
        name: &str,
        flag: Option<&'a str>,
        stored: Option<&'a str>,
        default: &'a str,
        parse: impl Fn(&'a str) -> Result<T>,
    ) -> Result<T> {
        match (flag, stored) {
            (Some(f), _) => {
                parse(f).map_err(|e| Error::invalid(format!("--{}: {e}", name.replace('_', "-"))))
            }
            (None, Some(s)) => parse(s).map_err(|e| {
                Error::invalid(format!(
                    "profile '{}' ({}): its setting {e}; change it with `smsync admin set {} \
                     {name}=VALUE` (or clear it with `{name}=`)",
                    p.name, p.employee, p.employee
                ))
            }),
            (None, None) => parse(default),
        }
    }
    let s = &p.settings;
    let encoding_name = over
        .csv_encoding
        .clone()
        .or_else(|| s.csv_encoding.clone())
        .unwrap_or_else(|| DEFAULT_CSV_ENCODING.to_string());
    let full_csv_limit = match (over.full_csv_limit, s.full_csv_limit) {
        (Some(n), _) => n,
        (None, Some(n)) => u64::try_from(n).map_err(|_| {
            Error::invalid(format!(
                "profile '{}' ({}): its setting full_csv_limit {n} is negative; change it with \
                 `smsync admin set {} full_csv_limit=20000`",
                p.name, p.employee, p.employee
            ))
        })?,
        (None, None) => DEFAULT_FULL_CSV_LIMIT,
    };
    // A guard setting stored out of range (by another tool) is the default's error.
    let guard = |name: &str, stored: Option<i64>| -> Result<u64> {
        let (_, default, max) = GUARD_SETTINGS
            .iter()
            .find(|(n, _, _)| *n == name)
            .expect("a guard setting");
        match stored {
            None => Ok(*default),
            Some(n) if n >= 0 && n as u64 <= *max => Ok(n as u64),
            Some(n) => Err(Error::invalid(format!(
                "profile '{}' ({}): its setting {name} {n} is out of range (0 to {max}); change \
                 it with `smsync admin set {} {name}={default}`",
                p.name, p.employee, p.employee
            ))),
        }
    };
    let removal_guard = Threshold {
        percent: guard("removal_guard_percent", s.removal_guard_percent)?,
        min: guard("removal_guard_min", s.removal_guard_min)?,
    };
    let change_guard = Threshold {
        percent: guard("change_guard_percent", s.change_guard_percent)?,
        min: guard("change_guard_min", s.change_guard_min)?,
    };
    let blank_guard_max = guard("blank_guard_max", s.blank_guard_max)?;
    Ok(Effective {
        removal_guard,
        change_guard,
        blank_guard_max,
        dates: pick(
            p,
            "date_format",
            over.date_format.as_deref(),
            s.date_format.as_deref(),
            DEFAULT_DATE_FORMAT,
            parse_date_format,
        )?,
        csv_language: pick(
            p,
            "csv_language",
            over.csv_language.as_deref(),
            s.csv_language.as_deref(),
            DEFAULT_CSV_LANGUAGE,
            parse_language,
        )?,
        encoding: pick(
            p,
            "csv_encoding",
            over.csv_encoding.as_deref(),
            s.csv_encoding.as_deref(),
            DEFAULT_CSV_ENCODING,
            parse_encoding,
        )?,
        encoding_name,
        vcard: pick(
            p,
            "vcard_version",
            over.vcard_version.as_deref(),
            s.vcard_version.as_deref(),
            DEFAULT_VCARD_VERSION,
            parse_vcard,
        )?,
        outputs: pick(
            p,
            "outputs",
            over.outputs.as_deref(),
            s.outputs.as_deref(),
            DEFAULT_OUTPUTS,
            parse_outputs,
        )?,
        full_csv_limit,
        csv_safe: over.csv_safe.or(s.csv_safe).unwrap_or(false),
    })
}

/// Checks every flag given, before any profile is worked on: a bad flag is a usage error
/// of the whole command, not of one profile.
pub fn check_overrides(over: &Overrides) -> Result<()> {
    let flag = |name: &str, r: Result<()>| r.map_err(|e| Error::invalid(format!("--{name}: {e}")));
    if let Some(s) = &over.date_format {
        flag("date-format", parse_date_format(s).map(drop))?;
    }
    if let Some(s) = &over.csv_language {
        flag("csv-language", parse_language(s).map(drop))?;
    }
    if let Some(s) = &over.csv_encoding {
        flag("csv-encoding", parse_encoding(s).map(drop))?;
    }
    if let Some(s) = &over.vcard_version {
        flag("vcard-version", parse_vcard(s).map(drop))?;
    }
    if let Some(s) = &over.outputs {
        flag("outputs", parse_outputs(s).map(drop))?;
    }
    Ok(())
}

/// Why a profile of an `--all` run is not worked on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PassedOver {
    /// The employee is inactive: its folder is left as it is.
    Inactive,
    /// Another employee's profile would share its folder: an error for both.
    Clash { with: Vec<String> },
}

/// The profiles an `--all` run works on, and those it passes over, by employee key.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub run: Vec<Profile>,
    pub passed: Vec<(Profile, PassedOver)>,
}

/// Chooses the profiles of an `--all` run (pure): active employees whose profile shares
/// its folder with no other employee's (active or not: an inactive employee's folder is
/// kept as it is, and must not receive another's files).
pub fn select_all(all: Vec<Profile>) -> Selection {
    let mut sel = Selection::default();
    for p in &all {
        let others: Vec<&Profile> = all
            .iter()
            .filter(|o| o.employee != p.employee && domain::same_folder(&o.name, &p.name))
            .collect();
        if !p.active {
            sel.passed.push((p.clone(), PassedOver::Inactive));
        } else if !others.is_empty() {
            let with = others
                .iter()
                .map(|o| format!("{} (user {}, profile '{}')", o.employee, o.user, o.name))
                .collect();
            sel.passed.push((p.clone(), PassedOver::Clash { with }));
        } else {
            sel.run.push(p.clone());
        }
    }
    sel
}

/// The error of a profile that shares its folder with other employees' profiles.
pub fn clash_error(p: &Profile, with: &[String]) -> Error {
    Error::invalid(format!(
        "profile '{}' ({}, user {}) is not synced: {} has the same profile name, and two \
         employees never share one drop folder; give one of them another first or last name \
         (smsync admin set SM-U<id> first_name=... last_name=...)",
        p.name,
        p.employee,
        p.user,
        with.join(" and ")
    ))
}

/// The error of a profile named on its own (`--profile`) whose employee is inactive.
pub fn inactive_error(p: &Profile) -> Error {
    Error::invalid(format!(
        "profile '{}' ({}) is inactive: smsync no longer exports to or ingests from its \
         folder; make it active again with `smsync admin set {} active=true`",
        p.name, p.employee, p.employee
    ))
}

/// The profile named on its own (`--profile NAME`), if it may be worked on: it exists
/// exactly once, is active, and shares its folder with no other employee.
pub fn one(store: &dyn Store, name: &str) -> Result<Profile> {
    let p = store.profile(name)?;
    if !p.active {
        return Err(inactive_error(&p));
    }
    let sel = select_all(store.profiles()?);
    match sel
        .passed
        .into_iter()
        .find(|(q, _)| q.employee == p.employee)
    {
        Some((_, PassedOver::Clash { with })) => Err(clash_error(&p, &with)),
        _ => Ok(p),
    }
}

/// Leaves a note in the folder of an inactive employee, once: its last report. A folder
/// that does not exist is not created. Returns whether the note was written now.
pub fn note_inactive(drop: &Path, p: &Profile) -> Result<bool> {
    let layout = Layout::new(drop, p.folder.as_deref().unwrap_or(&p.name));
    if !layout.root.is_dir() {
        return Ok(false);
    }
    let note = layout.inactive_note();
    if note.exists() {
        return Ok(false);
    }
    std::fs::create_dir_all(&layout.reports).map_err(|e| Error::io(&layout.reports, e))?;
    let text = format!(
        "Employee {} (profile '{}') is inactive since {}.\n\
         smsync no longer exports to or ingests from this folder; its files are left as they \
         are, and files dropped in inbox/ stay there.\n\
         To sync it again: smsync admin set {} active=true\n",
        p.employee,
        p.name,
        crate::clock::format_micros(crate::clock::now_micros()),
        p.employee
    );
    fsutil::write_atomic(&note, text.as_bytes())?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Key, Kind};
    use crate::store::Settings;

    fn profile(id: i64, name: &str, active: bool) -> Profile {
        Profile {
            employee: Key::new(Kind::Employee, id),
            user: Key::new(Kind::User, id + 10),
            name: name.into(),
            contacts_stamp: None,
            tasks_stamp: None,
            active,
            folder: None,
            settings: Settings::default(),
        }
    }

    #[test]
    fn all_runs_pass_over_inactive_and_clashing_profiles() {
        let sel = select_all(vec![
            profile(1, "Marco Rossi", true),
            profile(2, "Dana Whitfield", true),
            profile(3, "marco rossi", true),
            profile(4, "Tom Becker", false),
        ]);
        let run: Vec<&str> = sel.run.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(run, ["Dana Whitfield"]);
        let passed: Vec<(i64, &PassedOver)> =
            sel.passed.iter().map(|(p, w)| (p.employee.id, w)).collect();
        assert!(matches!(passed[0], (1, PassedOver::Clash { with }) if with[0].contains("SM-E3")));
        assert!(matches!(passed[1], (3, PassedOver::Clash { with }) if with[0].contains("SM-E1")));
        assert_eq!(passed[2], (4, &PassedOver::Inactive));
    }

    #[test]
    fn a_flag_overrides_the_profile_setting_which_overrides_the_default() {
        let mut p = profile(1, "Ann Lee", true);
        let eff = resolve(&p, &Overrides::default()).unwrap();
        assert_eq!(eff.dates.pattern(), DEFAULT_DATE_FORMAT);
        assert_eq!(eff.full_csv_limit, DEFAULT_FULL_CSV_LIMIT);
        p.settings.date_format = Some("DD.MM.YYYY".into());
        p.settings.outputs = Some("vdir".into());
        p.settings.csv_safe = Some(true);
        let eff = resolve(&p, &Overrides::default()).unwrap();
        assert_eq!(eff.dates.pattern(), "DD.MM.YYYY");
        assert_eq!(outputs_text(eff.outputs), "vdir");
        assert!(eff.csv_safe);
        let over = Overrides {
            date_format: Some("YYYY-MM-DD".into()),
            csv_safe: Some(false),
            ..Default::default()
        };
        let eff = resolve(&p, &over).unwrap();
        assert_eq!(eff.dates.pattern(), "YYYY-MM-DD");
        assert!(!eff.csv_safe);
        assert_eq!(outputs_text(eff.outputs), "vdir", "not overridden");
    }

    #[test]
    fn bad_values_list_the_valid_ones_and_name_the_fix() {
        let e = check_setting("csv_encoding", Value::Text("latin-9".into())).unwrap_err();
        assert!(
            e.to_string().contains("utf-8") && e.to_string().contains("windows-1252"),
            "{e}"
        );
        let e = check_setting("outputs", Value::Text("vdir,pdf".into())).unwrap_err();
        assert!(e.to_string().contains("outlook-vcards"), "{e}");
        let e = check_setting("date_format", Value::Text("DD.MM".into())).unwrap_err();
        assert!(e.to_string().contains("year"), "{e}");
        assert_eq!(
            check_setting("outputs", Value::Text(" outlook , vdir ".into())).unwrap(),
            Value::Text("vdir,outlook".into()),
            "stored in canonical order"
        );
        let mut p = profile(7, "Ann Lee", true);
        p.settings.csv_language = Some("xx".into());
        let e = resolve(&p, &Overrides::default()).unwrap_err();
        assert!(
            e.to_string().contains("admin set SM-E7 csv_language=")
                && e.to_string().contains("pt-BR"),
            "{e}"
        );
        assert_eq!(e.exit_code(), crate::error::exit::USAGE);
        let e = check_overrides(&Overrides {
            vcard_version: Some("2.1".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            e.to_string().starts_with("--vcard-version") && e.to_string().contains("4.0"),
            "{e}"
        );
    }
}
