//! The configs shipped in `configs/`, compiled into the binary: `setup --fix` writes them,
//! and `--config NAME` finds them when no file of that name exists.

/// Each shipped config: its file name and its text.
pub const DEFAULT_CONFIGS: &[(&str, &str)] = &[
    ("server.toml", include_str!("../../configs/server.toml")),
    ("smoke.toml", include_str!("../../configs/smoke.toml")),
    (
        "quick_test_config.toml",
        include_str!("../../configs/quick_test_config.toml"),
    ),
    (
        "moderate_test_config.toml",
        include_str!("../../configs/moderate_test_config.toml"),
    ),
    (
        "full_test_config.toml",
        include_str!("../../configs/full_test_config.toml"),
    ),
    (
        "soak_test_config.toml",
        include_str!("../../configs/soak_test_config.toml"),
    ),
    (
        "cluster_smoke.toml",
        include_str!("../../configs/cluster_smoke.toml"),
    ),
    (
        "cluster_quick_test_config.toml",
        include_str!("../../configs/cluster_quick_test_config.toml"),
    ),
];
