//! The checks of settings: defaults, precedence and named errors.

use std::time::Duration;

use super::*;

#[test]
fn defaults() {
    let config = Config::from_settings(Settings::default()).unwrap();
    assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(config.database, DEFAULT_DATABASE);
    assert_eq!(config.public_url, "http://127.0.0.1:8080");
    assert_eq!(config.instance_domain, "127.0.0.1");
    assert_eq!(config.account_url("wdc"), "https://wdc.example.com");
    assert_eq!(config.rate_limit, 3600);
    assert_eq!(config.delivery.timeout, Duration::from_secs(10));
    assert_eq!(config.delivery.retry.max_attempts, 10);
    assert_eq!(config.delivery.retry.schedule.len(), 9);
    assert_eq!(config.delivery.disable_after_failures, 20);
    assert!(config.delivery.require_verification);
    assert_eq!(config.mail.interval, Duration::from_secs(1200));
    assert!(config.mail.smtp_url.is_none());
    assert_eq!(config.delivery.concurrency, 256);
}

#[test]
fn concurrency_defaults_to_the_databases_and_yields_to_a_setting() {
    let postgres = |concurrency| Settings {
        database: Some("postgres://postgres@127.0.0.1/test".into()),
        delivery_concurrency: concurrency,
        ..Default::default()
    };
    let config = Config::from_settings(postgres(None)).unwrap();
    assert_eq!(config.delivery.concurrency, 1024);
    let config = Config::from_settings(postgres(Some(64))).unwrap();
    assert_eq!(config.delivery.concurrency, 64);
}

#[test]
fn flags_win_over_the_file() {
    let file: Settings = toml::from_str("listen = \"0.0.0.0:9000\"\nrate_limit = 10\n").unwrap();
    let flags = Settings {
        rate_limit: Some(20),
        ..Default::default()
    };
    let config = Config::from_settings(flags.over(file).unwrap()).unwrap();
    assert_eq!(config.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(config.rate_limit, 20);
}

#[test]
fn bad_values_are_named() {
    let bad = |s: Settings| Config::from_settings(s).unwrap_err().to_string();
    assert!(
        bad(Settings {
            listen: Some("nope".into()),
            ..Default::default()
        })
        .starts_with("listen:")
    );
    assert!(
        bad(Settings {
            database: Some("mysql://x".into()),
            ..Default::default()
        })
        .starts_with("database:")
    );
    assert!(
        bad(Settings {
            public_url: Some("ftp://x".into()),
            ..Default::default()
        })
        .starts_with("public-url:")
    );
    assert!(
        bad(Settings {
            account_url_template: Some("https://x.com".into()),
            ..Default::default()
        })
        .starts_with("account-url-template:")
    );
    assert!(
        bad(Settings {
            allow_target: Some(vec!["10.0.0.0/99".into()]),
            ..Default::default()
        })
        .starts_with("allow-target:")
    );
    assert!(toml::from_str::<Settings>("unknown_key = 1").is_err());
    assert!(
        bad(Settings {
            delivery_timeout: Some("soon".into()),
            ..Default::default()
        })
        .starts_with("delivery-timeout:")
    );
    for timeout in ["0s", "2days", "soon"] {
        assert!(
            bad(Settings {
                connection_idle_timeout: Some(timeout.into()),
                ..Default::default()
            })
            .starts_with("connection-idle-timeout"),
            "{timeout}"
        );
    }
    assert!(
        bad(Settings {
            retry_schedule: Some("1s,x".into()),
            ..Default::default()
        })
        .starts_with("retry-schedule:")
    );
    assert!(
        bad(Settings {
            smtp_url: Some("http://mail".into()),
            ..Default::default()
        })
        .starts_with("smtp-url:")
    );
    assert!(
        bad(Settings {
            mail_from: Some("nobody".into()),
            ..Default::default()
        })
        .starts_with("mail-from:")
    );
    assert!(
        bad(Settings {
            max_attempts: Some(0),
            ..Default::default()
        })
        .starts_with("max-attempts")
    );
}

#[test]
fn the_audit_trail_is_kept_a_year_unless_set_to_a_day_or_more() {
    let config = Config::from_settings(Settings::default()).unwrap();
    assert_eq!(config.audit_retention, Duration::from_secs(365 * 86_400));
    let audit = |text: &str| {
        Config::from_settings(Settings {
            audit_retention: Some(text.into()),
            ..Default::default()
        })
    };
    assert_eq!(
        audit("90d").unwrap().audit_retention,
        Duration::from_secs(90 * 86_400)
    );
    assert!(
        audit("12h")
            .unwrap_err()
            .to_string()
            .starts_with("audit-retention")
    );
    assert!(
        audit("soon")
            .unwrap_err()
            .to_string()
            .starts_with("audit-retention:")
    );
}

#[test]
fn metrics_are_off_and_logs_are_text_at_info_unless_given() {
    let config = Config::from_settings(Settings::default()).unwrap();
    assert!(config.telemetry.metrics_listen.is_none());
    assert!(!config.telemetry.metrics_per_webhook);
    assert_eq!(config.telemetry.log_format, LogFormat::Text);
    assert_eq!(
        config.telemetry.log_level,
        tracing::level_filters::LevelFilter::INFO
    );
    let given = Config::from_settings(Settings {
        metrics_listen: Some("127.0.0.1:0".into()),
        metrics_per_webhook: Some(true),
        log_format: Some("json".into()),
        log_level: Some("WARN".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        given.telemetry.metrics_listen.unwrap().to_string(),
        "127.0.0.1:0"
    );
    assert!(given.telemetry.metrics_per_webhook);
    assert_eq!(given.telemetry.log_format, LogFormat::Json);
    assert_eq!(
        given.telemetry.log_level,
        tracing::level_filters::LevelFilter::WARN
    );
}

#[test]
fn bad_telemetry_settings_are_named() {
    let bad = |s: Settings| Config::from_settings(s).unwrap_err().to_string();
    let metrics = bad(Settings {
        metrics_listen: Some("9090".into()),
        ..Default::default()
    });
    assert!(metrics.starts_with("metrics-listen:"), "{metrics}");
    for (api, metrics) in [
        ("127.0.0.1:8080", "127.0.0.1:8080"),
        ("0.0.0.0:8080", "127.0.0.1:8080"),
    ] {
        let shared = bad(Settings {
            listen: Some(api.into()),
            metrics_listen: Some(metrics.into()),
            ..Default::default()
        });
        assert!(shared.contains("the API's own address"), "{shared}");
    }
    let format = bad(Settings {
        log_format: Some("xml".into()),
        ..Default::default()
    });
    assert!(format.starts_with("log-format:"), "{format}");
    let level = bad(Settings {
        log_level: Some("loud".into()),
        ..Default::default()
    });
    assert!(level.starts_with("log-level:"), "{level}");
}
