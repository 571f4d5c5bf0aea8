"""The application: the `dtmem` and `dtmem-convert` commands, their jobs, the quickstart,
the CartPole demo, named presets, resuming and multi-process helpers.

The library (model, algorithm, adapters, data, convert, envs, evaluation) never imports this
package.
"""
