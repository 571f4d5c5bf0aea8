"""Evaluate a DT-Mem model with d3rlpy's own, unmodified evaluator.

DT-Mem is a d3rlpy algorithm: ``as_stateful_wrapper`` and
``d3rlpy.metrics.evaluate_transformer_with_environment`` work on it as on d3rlpy's Decision
Transformer. Without ``--model``, a small DT-Mem is first trained on scripted CartPole data.

    python examples/evaluate_with_d3rlpy.py                       # train on CartPole, evaluate
    python examples/evaluate_with_d3rlpy.py --model m.d3 --env CartPole-v1 --target-return 500
"""

import d3rlpy_dtmem  # noqa: F401  # isort: skip  (first: registers DT-Mem, quiets old gym)
import argparse

import d3rlpy
import gymnasium as gym


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="a saved DT-Mem (.d3); default: train one on CartPole")
    parser.add_argument("--env", default="CartPole-v1", help="gymnasium env id")
    parser.add_argument("--target-return", type=float, default=500.0)
    parser.add_argument("--trials", type=int, default=5, help="evaluation episodes")
    parser.add_argument("--steps", type=int, default=500, help="training steps without --model")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    d3rlpy.seed(args.seed)
    if args.model:
        algo = d3rlpy.load_learnable(args.model)
    else:
        from d3rlpy.preprocessing import MultiplyRewardScaler

        from d3rlpy_dtmem.app.cartpole import collect_cartpole
        from d3rlpy_dtmem.app.presets import preset_config

        dataset, _ = collect_cartpole(episodes=20, seed=args.seed)
        # CartPole returns reach 500; scaled by 0.2 they fit the return classes (-20..100)
        algo = preset_config(
            "tiny",
            pixel=False,
            context_size=20,
            max_timestep=500,
            reward_scaler=MultiplyRewardScaler(0.2),
        ).create()
        algo.fit(
            dataset,
            n_steps=args.steps,
            n_steps_per_epoch=args.steps,
            logger_adapter=d3rlpy.logging.NoopAdapterFactory(),
        )

    env = gym.make(args.env)
    env.reset(seed=args.seed)
    score = d3rlpy.metrics.evaluate_transformer_with_environment(
        algo.as_stateful_wrapper(target_return=args.target_return), env, n_trials=args.trials
    )
    print(f"{args.env}: mean return {score:.1f} over {args.trials} episodes")


if __name__ == "__main__":
    main()
