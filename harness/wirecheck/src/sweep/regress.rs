//! A shrunk failing seed written as a scripted regression scenario
//! (`scenarios/regressions/<scenario>-<rule>-<seed>.yaml`), which `cargo test` replays.

use super::shrink::Shrunk;
use crate::chaos::yaml;
use crate::model::Scenario;
use std::path::{Path, PathBuf};
use wirecheck_core::flaws::Flaws;

/// The file name stem for `base`'s failing `seed` that broke `rule`.
pub fn stem(base: &Scenario, rule: &str, seed: u64) -> String {
    let scenario = base.name.rsplit('/').next().unwrap_or(&base.name);
    format!("{scenario}-{}-{seed}", rule.to_ascii_lowercase())
}

/// The scenario name of file `<stem>.yaml` in `dir`, as the loader derives it: its path
/// below the nearest folder called `scenarios`, else its stem.
fn name_for(dir: &Path, stem: &str) -> String {
    let parts: Vec<String> = dir
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.iter().rposition(|p| p == "scenarios") {
        Some(i) => parts[i + 1..]
            .iter()
            .map(String::as_str)
            .chain([stem])
            .collect::<Vec<_>>()
            .join("/"),
        None => stem.to_owned(),
    }
}

/// Writes the shrunk case under `dir` (created if need be); returns the file.
pub fn write(
    base: &Scenario,
    shrunk: &Shrunk,
    rule: &str,
    flaws: &Flaws,
    dir: &Path,
) -> std::io::Result<PathBuf> {
    let stem = stem(base, rule, shrunk.plan.seed);
    let file = dir.join(format!("{stem}.yaml"));
    let found = if flaws.is_empty() {
        "on the reference".to_string()
    } else {
        format!(
            "with flaw(s) {}",
            flaws
                .iter()
                .map(|f| f.name())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let about = format!(
        "Seed {} of {} broke {rule} {found} in a sweep; shrunk to these {} steps ({} runs). \
         The workload and nemesis are written out as script steps, so the file replays the \
         run without drawing anything. It must pass on the correct reference.",
        shrunk.plan.seed,
        base.name,
        shrunk.plan.steps.len(),
        shrunk.runs
    );
    let mut rules = vec![rule];
    if rule == super::STEP {
        rules = vec!["CONN-7"];
    }
    std::fs::create_dir_all(dir)?;
    let text = crate::schema::header_for(&file).unwrap_or_default()
        + &yaml::scripted(base, &shrunk.plan, &name_for(dir, &stem), &about, &rules);
    std::fs::write(&file, text)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::name_for;
    use std::path::Path;

    #[test]
    fn a_regression_is_named_as_the_loader_names_its_file() {
        let n = |d: &str| name_for(Path::new(d), "s-brk-5-0");
        assert_eq!(n("scenarios/regressions"), "regressions/s-brk-5-0");
        assert_eq!(n("/w/scenarios/a/b"), "a/b/s-brk-5-0");
        assert_eq!(n("/tmp/out"), "s-brk-5-0");
    }
}
