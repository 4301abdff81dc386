"""The hostile-client suite (issue 14): each finding's attack, made against a served instance in
production mode (target.py), and what it must be answered with. One module per finding, named
by its number; each opens with the finding as reported and what is asserted now:

 1 a forgotten BFF_ENVIRONMENT       test_01_forgotten_environment
 2 unbounded metric labels           test_02_metric_labels (series, scrape and memory flat)
 3 callback token lock-out           test_03_callback_token_lockout
 4 no per-user budgets               test_04_per_user_budgets
 5 a weak token policy               test_05_token_policy
 6 callbacks trusted beyond reason   test_06_callbacks
 7 slow clients, idle connections    test_07_slow_clients
 8 staff for every store             test_08_staff_scope
 9 two servers on one port           test_09_one_server_per_port
10 start-up failures                 test_10_startup_failures
   no secret in any log line         test_11_no_secret_in_any_log_line (runs last)

In-process tests hold the same rules in more detail: tests/ops/test_production_rules.py,
tests/platform_layer/test_bounded_labels.py and test_slow_clients.py, tests/checkout/
(callbacks, budgets, staff) and tests/auth/; docs/production.md lists them by finding.
"""
