//! What Fargate tasks cost: the price table shipped with the binary (dated, per region and CPU
//! architecture), the monthly cost of a number of tasks of one size, and the tasks a rollout runs
//! at its busiest moment. Pure: no clock, no AWS; `cygni diff` and `cygni status` render it.

pub mod peak;

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

/// Hours in the month the costs are given for (AWS's own convention: 365 days x 24 / 12).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// The table, as shipped.
static TABLE: LazyLock<PriceTable> = LazyLock::new(|| {
    PriceTable::parse(include_str!("prices.toml")).expect("the shipped price table parses")
});

/// The price table shipped with this binary.
pub fn table() -> &'static PriceTable {
    &TABLE
}

/// The CPU architecture of a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Architecture {
    /// `X86_64`, what ECS runs when a task definition names no runtime platform.
    X86_64,
    /// `ARM64` (Graviton).
    Arm64,
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        })
    }
}

/// What one task is billed for. Ephemeral storage is not part of it: the App API has no field
/// for more than the 20 GB every Fargate task gets without charge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaskSize {
    /// CPU units (1024 = one vCPU).
    pub cpu: i32,
    /// Memory in MiB.
    pub memory: i32,
}

impl TaskSize {
    /// A task with the given CPU units and memory.
    pub fn new(cpu: i32, memory: i32) -> TaskSize {
        TaskSize { cpu, memory }
    }

    /// vCPUs.
    pub fn vcpu(&self) -> f64 {
        f64::from(self.cpu) / 1024.0
    }

    /// Memory in GB, as Fargate bills it (1 GB = 1024 MiB).
    pub fn memory_gb(&self) -> f64 {
        f64::from(self.memory) / 1024.0
    }
}

/// `0.25 vCPU/0.5 GB`.
impl fmt::Display for TaskSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} vCPU/{} GB", self.vcpu(), self.memory_gb())
    }
}

/// Hourly rates of one region and architecture, in US dollars.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    /// Per vCPU-hour.
    pub vcpu_hour: f64,
    /// Per GB-hour of memory.
    pub gb_hour: f64,
}

impl Rates {
    /// What one task of `size` costs an hour.
    pub fn hourly(&self, size: &TaskSize) -> f64 {
        size.vcpu() * self.vcpu_hour + size.memory_gb() * self.gb_hour
    }

    /// What `tasks` tasks of `size` cost a month of [`HOURS_PER_MONTH`].
    pub fn monthly(&self, tasks: i32, size: &TaskSize) -> f64 {
        f64::from(tasks.max(0)) * self.hourly(size) * HOURS_PER_MONTH
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegionRates {
    x86_64: Option<Rates>,
    arm64: Option<Rates>,
}

/// Fargate Linux on-demand prices per region and architecture, as of a date.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    /// The day the figures were read (`YYYY-MM-DD`).
    pub date: String,
    /// Where they were read.
    pub source: String,
    regions: BTreeMap<String, RegionRates>,
}

/// The table has no figures for a region and architecture.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no price for region {region} ({architecture}) in the table dated {date}")]
pub struct NoPrice {
    /// The region asked for.
    pub region: String,
    /// The architecture asked for.
    pub architecture: Architecture,
    /// The table's date.
    pub date: String,
}

impl PriceTable {
    /// Parses a table in the shipped format.
    pub fn parse(text: &str) -> Result<PriceTable, toml::de::Error> {
        toml::from_str(text)
    }

    /// The rates of `region` for `architecture`.
    pub fn rates(&self, region: &str, architecture: Architecture) -> Result<Rates, NoPrice> {
        self.regions
            .get(region)
            .and_then(|r| match architecture {
                Architecture::X86_64 => r.x86_64,
                Architecture::Arm64 => r.arm64,
            })
            .ok_or_else(|| NoPrice {
                region: region.to_string(),
                architecture,
                date: self.date.clone(),
            })
    }

    /// The regions with figures.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        self.regions.keys().map(String::as_str)
    }
}

/// Dollars as a bill shows them: `$29.55`.
pub fn dollars(amount: f64) -> String {
    format!("${amount:.2}")
}

/// The region of an AWS ARN (`arn:aws:ecs:eu-west-1:...` is `eu-west-1`).
pub fn region_of_arn(arn: &str) -> Option<&str> {
    let region = arn.split(':').nth(3)?;
    (arn.starts_with("arn:") && !region.is_empty()).then_some(region)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us_east_x86() -> Rates {
        table()
            .rates("us-east-1", Architecture::X86_64)
            .expect("priced")
    }

    #[test]
    fn shipped_table_is_dated_and_names_its_source() {
        let t = table();
        assert!(jiff::civil::Date::strptime("%Y-%m-%d", &t.date).is_ok());
        assert!(!t.source.is_empty());
        assert!(t.regions().any(|r| r == "us-east-1"));
    }

    #[test]
    fn smallest_task_costs_vcpu_and_memory_hours_of_a_730_hour_month() {
        // 0.25 x 0.04048 + 0.5 x 0.004445 = 0.0123425 an hour; x 730 = 9.010025 a month.
        let monthly = us_east_x86().monthly(1, &TaskSize::new(256, 512));
        assert!((monthly - 9.010_025).abs() < 1e-9, "{monthly}");
        assert_eq!(dollars(monthly), "$9.01");
    }

    #[test]
    fn tasks_multiply_the_cost_of_one() {
        // 0.5 x 0.04048 + 1 x 0.004445 = 0.024685 an hour; x 4 x 730 = 72.0802.
        let monthly = us_east_x86().monthly(4, &TaskSize::new(512, 1024));
        assert!((monthly - 72.0802).abs() < 1e-9, "{monthly}");
    }

    #[test]
    fn arm64_is_priced_from_its_own_rates() {
        // 1 x 0.03238 + 2 x 0.00356 = 0.0395 an hour; x 730 = 28.835.
        let rates = table().rates("us-east-1", Architecture::Arm64).unwrap();
        let monthly = rates.monthly(1, &TaskSize::new(1024, 2048));
        assert!((monthly - 28.835).abs() < 1e-9, "{monthly}");
    }

    #[test]
    fn region_without_figures_says_so_with_the_table_date() {
        let error = table()
            .rates("mx-central-1", Architecture::X86_64)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            format!(
                "no price for region mx-central-1 (x86_64) in the table dated {}",
                table().date
            )
        );
    }

    #[test]
    fn an_architecture_without_figures_says_so_even_where_the_region_has_others() {
        assert!(table().rates("eu-west-2", Architecture::X86_64).is_ok());
        let error = table().rates("eu-west-2", Architecture::Arm64).unwrap_err();
        assert_eq!(error.architecture, Architecture::Arm64);
    }

    #[test]
    fn every_shipped_rate_is_a_plausible_price_and_arm64_costs_less() {
        // Catches a misplaced decimal point when the table is updated: every published Fargate
        // Linux rate lies in these bands.
        let t = table();
        assert!(t.regions().count() > 1);
        for region in t.regions() {
            let x86 = t.rates(region, Architecture::X86_64).ok();
            let arm = t.rates(region, Architecture::Arm64).ok();
            for rates in [x86, arm].into_iter().flatten() {
                assert!(
                    (0.02..0.1).contains(&rates.vcpu_hour),
                    "{region}: {rates:?}"
                );
                assert!(
                    (0.002..0.01).contains(&rates.gb_hour),
                    "{region}: {rates:?}"
                );
            }
            if let (Some(x86), Some(arm)) = (x86, arm) {
                assert!(arm.vcpu_hour < x86.vcpu_hour && arm.gb_hour < x86.gb_hour);
            }
        }
    }

    #[test]
    fn the_playground_region_is_priced() {
        // 2 x (0.25 x 0.04048 + 0.5 x 0.004445) x 730 = 18.02005.
        let rates = table().rates("eu-west-1", Architecture::X86_64).unwrap();
        let monthly = rates.monthly(2, &TaskSize::new(256, 512));
        assert!((monthly - 18.020_05).abs() < 1e-9, "{monthly}");
    }

    #[test]
    fn a_table_with_a_field_it_does_not_know_is_refused() {
        let text = "date = \"2026-12-01\"\nsource = \"s\"\n[regions.us-east-1.x86_64]\nvcpu_hour = 0.04\ngb_hour = 0.004\nstorage_gb_hour = 0.0001\n";
        let error = PriceTable::parse(text).unwrap_err().to_string();
        assert!(error.contains("storage_gb_hour"), "{error}");
    }

    #[test]
    fn task_size_reads_as_vcpu_and_gb() {
        assert_eq!(TaskSize::new(256, 512).to_string(), "0.25 vCPU/0.5 GB");
        assert_eq!(TaskSize::new(4096, 30720).to_string(), "4 vCPU/30 GB");
    }

    #[test]
    fn region_is_read_from_an_arn() {
        assert_eq!(
            region_of_arn("arn:aws:ecs:eu-west-1:123456789012:service/playground/web-a"),
            Some("eu-west-1")
        );
        assert_eq!(region_of_arn("web-a"), None);
    }
}
