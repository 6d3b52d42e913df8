//! The screens rendered on ratatui's `TestBackend`, from recorded server answers, at the
//! two sizes of screen and on small terminals.

use super::*;
use crate::monitor::sample::fixtures::*;
use crate::monitor::sample::ServerSample;
use crate::monitor::state::tests::recorded_state;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui::Terminal;

fn render(state: &DashboardState, ui: &Ui, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, state, ui)).unwrap();
    let buf = terminal.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

fn ui(view: View) -> Ui {
    let mut ui = Ui::new(Theme { color: false }, Duration::from_secs(1), false);
    ui.view = view;
    ui.now_unix_ms = Some(1_002_000);
    ui
}

fn degraded_with_stress() -> DashboardState {
    let mut st = recorded_state();
    let mut s = sample(METRICS_DEGRADED, HEALTH_DEGRADED, 1_003_000);
    s.stress = Some(stress(STRESS));
    st.ingest(s);
    st
}

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

#[test]
fn overview_healthy_at_both_sizes() {
    let st = recorded_state();
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Overview), w, h);
        assert!(screen.contains("HEALTHY"), "{w}x{h}\n{screen}");
        assert!(screen.contains("v0.1.0"), "{screen}");
        assert!(screen.contains("Breakers 13/13 closed"), "{screen}");
        assert!(screen.contains("up 2/2"), "{screen}");
        assert!(screen.contains("#0") && screen.contains("#1"), "{screen}");
        assert!(screen.contains("idle"), "{screen}");
        assert!(screen.contains("20.5"), "req/s from two samples\n{screen}");
        assert!(screen.contains("75.61%"), "success rate 31/41\n{screen}");
        assert!(screen.contains("server+workers"), "{screen}");
        assert!(screen.contains("Alerts: 0 active"), "{screen}");
        assert!(screen.contains("none: all clear"), "{screen}");
        assert!(screen.contains("1:Overview"), "{screen}");
    }
}

#[test]
fn a_running_adversary_shows_beside_the_faults() {
    let mut st = recorded_state();
    let mut s = sample(METRICS_DEGRADED, HEALTH_DEGRADED, 1_003_000);
    let mut stress_info = stress(STRESS);
    stress_info.active_adversaries = vec!["greedy".into(), "garbage".into()];
    s.stress = Some(stress_info);
    st.ingest(s);
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Overview), w, h);
        assert!(screen.contains("FAULT NOW: latency"), "{w}x{h}\n{screen}");
        if w >= 120 {
            assert!(
                screen.contains("ADVERSARY NOW: greedy, garbage"),
                "{w}x{h}\n{screen}"
            );
        }
    }
}

#[test]
fn overview_degraded_with_stress_at_both_sizes() {
    let st = degraded_with_stress();
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Overview), w, h);
        assert!(screen.contains("DEGRADED"), "{w}x{h}\n{screen}");
        assert!(
            screen.contains("key_analysis") && screen.contains("OPEN"),
            "{screen}"
        );
        assert!(screen.contains("half-open"), "{screen}");
        assert!(screen.contains("up 1/2"), "{screen}");
        assert!(screen.contains("dead"), "{screen}");
        assert!(screen.contains("FAULT NOW: latency"), "{screen}");
        assert!(screen.contains("FAIL"), "a failing threshold\n{screen}");
        assert!(
            screen.contains("Alerts:") && screen.contains("active"),
            "{screen}"
        );
        assert!(screen.contains("breaker open: key_analysis"), "{screen}");
        assert!(screen.contains("soft"), "memory pressure\n{screen}");
    }
    let wide = render(&st, &ui(View::Overview), 120, 40);
    assert!(wide.contains("kill_server"), "chaos timeline\n{wide}");
    assert!(wide.contains("first ok 1.62s"), "{wide}");
    assert!(
        wide.contains("chord_analysis") && wide.contains("voice_leading_analysis"),
        "every breaker\n{wide}"
    );
    assert!(wide.contains("FAIL unexpected == 0"), "{wide}");
}

#[test]
fn unreachable_server_says_so() {
    let mut st = recorded_state();
    let mut s = crate::monitor::sample::ServerSample::unreachable(URL, "connection refused");
    s.taken_unix_ms = 1_004_000;
    st.ingest(s);
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Overview), w, h);
        assert!(screen.contains("UNREACHABLE"), "{w}x{h}\n{screen}");
        assert!(screen.contains("is unreachable"), "{screen}");
        assert!(screen.contains("connection refused"), "{screen}");
        assert!(screen.contains("retrying every 1.0 s"), "{screen}");
        assert!(screen.contains("Breakers 13/13 closed (stale)"), "{screen}");
        assert!(screen.contains("Workers (stale)"), "{screen}");
        assert!(screen.contains("Memory (stale)"), "{screen}");
    }
    // Never reached at all.
    let mut fresh = DashboardState::new();
    fresh.ingest(crate::monitor::sample::ServerSample::unreachable(
        URL,
        "connection refused",
    ));
    let screen = render(&fresh, &ui(View::Overview), 80, 24);
    assert!(screen.contains("no answer yet"), "{screen}");
    assert!(screen.contains("no data yet"), "{screen}");
}

#[test]
fn tools_view_lists_every_tool() {
    let st = degraded_with_stress();
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Tools), w, h);
        for tool in [
            "key_analysis",
            "score_info",
            "list_scores",
            "voice_leading_analysis",
        ] {
            assert!(screen.contains(tool), "{tool} {w}x{h}\n{screen}");
        }
        assert!(screen.contains("p99 ms"), "{screen}");
        assert!(screen.contains("OPEN"), "{screen}");
    }
}

#[test]
fn workers_view_rows() {
    let st = degraded_with_stress();
    for (w, h) in SIZES {
        let screen = render(&st, &ui(View::Workers), w, h);
        assert!(screen.contains("Worker slots"), "{w}x{h}\n{screen}");
        assert!(
            screen.contains("busy") && screen.contains("dead"),
            "{screen}"
        );
        assert!(screen.contains("deadline 3"), "kills by reason\n{screen}");
        assert!(screen.contains("crashed 2"), "restarts by reason\n{screen}");
    }
}

#[test]
fn events_view_has_timeline_recoveries_and_alerts() {
    let st = degraded_with_stress();
    let screen = render(&st, &ui(View::Events), 120, 40);
    assert!(screen.contains("Chaos timeline"), "{screen}");
    assert!(screen.contains("kill_server"), "{screen}");
    assert!(screen.contains("SIGKILL pid 4100"), "{screen}");
    assert!(screen.contains("47.0-now"), "an ongoing fault\n{screen}");
    assert!(screen.contains("first success after 1.62s"), "{screen}");
    assert!(screen.contains("ready after 1.35s"), "{screen}");
    assert!(screen.contains("checker pending"), "{screen}");
    assert!(
        screen.contains("breaker key_analysis: closed -> open"),
        "{screen}"
    );
    let small = render(&st, &ui(View::Events), 80, 24);
    assert!(small.contains("Chaos timeline"), "{small}");
}

#[test]
fn help_and_pause_and_keys() {
    let st = recorded_state();
    let mut u = ui(View::Overview);
    assert_eq!(
        u.handle_key(KeyEvent::from(KeyCode::Char('?'))),
        Action::Redraw
    );
    assert_eq!(
        u.handle_key(KeyEvent::from(KeyCode::Char('p'))),
        Action::Redraw
    );
    let screen = render(&st, &u, 80, 24);
    assert!(screen.contains("Help"), "{screen}");
    assert!(screen.contains("PAUSED"), "{screen}");
    assert_eq!(u.handle_key(KeyEvent::from(KeyCode::Esc)), Action::Redraw);
    assert!(!u.help);
    u.handle_key(KeyEvent::from(KeyCode::Tab));
    assert_eq!(u.view, View::Tools);
    u.handle_key(KeyEvent::from(KeyCode::BackTab));
    u.handle_key(KeyEvent::from(KeyCode::BackTab));
    assert_eq!(u.view, View::Events);
    u.handle_key(KeyEvent::from(KeyCode::Down));
    assert_eq!(u.scroll[3], 1);
    assert_eq!(
        u.handle_key(KeyEvent::from(KeyCode::Char('q'))),
        Action::Quit
    );
    assert_eq!(
        u.handle_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Action::Interrupt
    );
}

#[test]
fn no_color_means_no_colour() {
    let st = degraded_with_stress();
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).unwrap();
    terminal
        .draw(|f| draw(f, &st, &ui(View::Overview)))
        .unwrap();
    let buf = terminal.backend().buffer();
    assert!(buf
        .content
        .iter()
        .all(|c| c.fg == Color::Reset && c.bg == Color::Reset));
    let colored = Ui {
        theme: Theme { color: true },
        ..ui(View::Overview)
    };
    terminal.draw(|f| draw(f, &st, &colored)).unwrap();
    assert!(terminal
        .backend()
        .buffer()
        .content
        .iter()
        .any(|c| c.fg == Color::Red));
}

#[test]
fn tiny_terminal_says_so() {
    let st = recorded_state();
    let screen = render(&st, &ui(View::Overview), 30, 8);
    assert!(screen.contains("too small"), "{screen}");
}

/// `cargo test --lib monitor::ui::tests::dump_screens -- --ignored --nocapture` prints
/// every view at both sizes, for a look.
#[test]
#[ignore]
fn dump_screens() {
    let healthy = recorded_state();
    let degraded = degraded_with_stress();
    for (name, st) in [("healthy", &healthy), ("degraded + stress", &degraded)] {
        for view in View::ALL {
            for (w, h) in SIZES {
                println!(
                    "== {name}, {}, {w}x{h}\n{}",
                    view.name(),
                    render(st, &ui(view), w, h)
                );
            }
        }
    }
}

#[test]
fn the_room_follows_the_screen() {
    use panel::Room;
    assert_eq!(Room::of(Rect::new(0, 0, 109, 60)), Room::Compact);
    assert_eq!(Room::of(Rect::new(0, 0, 200, 33)), Room::Compact);
    assert_eq!(Room::of(Rect::new(0, 0, 110, 34)), Room::Wide);
    assert_eq!(Room::Compact.pick("short", "long"), "short");
    assert_eq!(Room::Wide.pick("short", "long"), "long");
}

#[test]
fn panel_rows_keep_their_room_and_stop_at_the_bottom() {
    use panel::{PanelRows, Room, Shown};
    let draw_rows = |room: Room, height: u16| {
        let mut rows = PanelRows::new(room);
        rows.text(Shown::Always, Line::raw("always"));
        rows.text(Shown::Compact, Line::raw("compact"));
        rows.text(Shown::Wide, Line::raw("wide one"));
        rows.text(Shown::Wide, Line::raw("wide two"));
        let mut terminal = Terminal::new(TestBackend::new(12, height)).unwrap();
        let mut used = 0;
        terminal.draw(|f| used = rows.draw(f, f.area())).unwrap();
        let buf = terminal.backend().buffer().clone();
        let text: Vec<String> = (0..height)
            .map(|y| {
                (0..12)
                    .map(|x| buf[(x, y)].symbol())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect();
        (used, text)
    };
    assert_eq!(
        draw_rows(Room::Compact, 3),
        (2, vec!["always".into(), "compact".into(), String::new()])
    );
    assert_eq!(
        draw_rows(Room::Wide, 2),
        (2, vec!["always".into(), "wide one".into()])
    );
}

#[test]
fn the_now_panel_says_more_on_a_wide_screen() {
    let st = recorded_state();
    let wide = render(&st, &ui(View::Overview), 120, 40);
    for words in [
        "requests/s",
        "success 10s",
        "rate-limited",
        "timeouts",
        "calls",
        "sessions",
    ] {
        assert!(wide.contains(words), "{words}\n{wide}");
    }
    let compact = render(&st, &ui(View::Overview), 80, 24);
    for words in ["req/s", "ok", "err/s", "in-flight", "rl", "t/o"] {
        assert!(compact.contains(words), "{words}\n{compact}");
    }
    assert!(!compact.contains("rate-limited"), "{compact}");
}

#[test]
fn memory_is_gauges_when_wide_and_one_line_when_compact() {
    let mut st = recorded_state();
    let mut s = sample(METRICS_B, HEALTH_B, 1_003_000);
    s.system = Some(crate::monitor::sample::SystemInfo {
        total_bytes: 4 << 30,
        available_bytes: 1 << 30,
        cpu_percent: Some(12.4),
        cpus: 8,
    });
    st.ingest(s);
    let wide = render(&st, &ui(View::Workers), 120, 40);
    assert!(wide.contains("system 3.00G used / 4.00G (75%)"), "{wide}");
    assert!(wide.contains("cpu 12% of 8 cores"), "{wide}");
    assert!(wide.contains("; limits"), "{wide}");
    let compact = render(&st, &ui(View::Workers), 80, 24);
    assert!(
        compact.contains("sys 3.00G/4.00G cpu 12% │ store"),
        "{compact}"
    );
    assert!(!compact.contains("cpu 12% of"), "{compact}");
}

#[test]
fn the_tools_table_drops_the_counts_when_compact() {
    let st = degraded_with_stress();
    let wide = render(&st, &ui(View::Tools), 120, 40);
    assert!(
        wide.contains("timeouts") && wide.contains("calls"),
        "{wide}"
    );
    assert!(wide.contains("(* = server lifetime)"), "{wide}");
    let compact = render(&st, &ui(View::Tools), 80, 24);
    assert!(!compact.contains("timeouts"), "{compact}");
    assert!(compact.contains("(* lifetime)"), "{compact}");
}

#[test]
fn an_unreachable_stress_status_says_so_everywhere() {
    let mut st = recorded_state();
    let mut s = sample(METRICS_B, HEALTH_B, 1_003_000);
    s.stress = Some(crate::monitor::sample::StressInfo::unreachable(
        "http://127.0.0.1:18200/status",
        "connection refused",
    ));
    st.ingest(s);
    let wide = render(&st, &ui(View::Overview), 120, 40);
    assert!(
        wide.contains("stress status http://127.0.0.1:18200/status unreachable"),
        "{wide}"
    );
    let compact = render(&st, &ui(View::Overview), 80, 24);
    assert!(
        compact.contains("stress status unreachable: connection refused"),
        "{compact}"
    );
    let events = render(&st, &ui(View::Events), 80, 24);
    assert!(
        events.contains("stress status http://127.0.0.1:18200"),
        "{events}"
    );
}

#[test]
fn every_view_fits_small_terminals() {
    let mut unreachable = recorded_state();
    let mut s = ServerSample::unreachable(URL, "connection refused");
    s.taken_unix_ms = 1_004_000;
    unreachable.ingest(s);
    let states = [
        DashboardState::new(),
        recorded_state(),
        degraded_with_stress(),
        unreachable,
    ];
    for st in &states {
        for view in View::ALL {
            for (w, h) in [(40, 12), (52, 16), (60, 20), (80, 24), (109, 33), (250, 14)] {
                let screen = render(st, &ui(view), w, h);
                assert!(screen.contains("1:Overview"), "{w}x{h}\n{screen}");
                assert!(!screen.contains("too small"), "{w}x{h}\n{screen}");
            }
        }
    }
}
