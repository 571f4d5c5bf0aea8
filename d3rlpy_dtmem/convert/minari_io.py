"""Writing Minari datasets atomically: complete, or not at all.

``minari.create_dataset_from_buffers`` writes straight into the Minari root, so a crash
leaves a half-written dataset that blocks the next attempt. Here a dataset is built in a
hidden staging folder inside the root (same filesystem) and renamed into place once all of
its episodes and metadata are written.
"""

import contextlib
import os
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FRAME_COMPRESSIONS",
    "minari_root",
    "check_dataset_id",
    "use_minari_root",
    "write_minari_dataset",
]

# hdf5 filters for image observations: h5py's create_dataset keyword arguments. A chunk holds
# up to FRAMES_PER_CHUNK whole frames, so the filters also exploit what frames share (gzip
# level 1 on real Atari frames, measured: ~200 bytes per 84x84 frame, 80k frames/s written;
# benchmarks/convert_atari.py).
FRAME_COMPRESSIONS: dict[str, dict[str, Any]] = {
    "none": {},
    "lzf": {"compression": "lzf"},
    "gzip": {"compression": "gzip", "compression_opts": 1},
}
FRAMES_PER_CHUNK = 64

# Minari's ``(namespace/)(env_name/)name-vN``; this project always uses a namespace of >= 2
# chars (Minari's hub writes ``atari/breakout/expert-v0``).
_DATASET_ID = re.compile(r"^[A-Za-z0-9_.-]{2,}/([A-Za-z0-9_.-]+/)?[A-Za-z0-9_.-]+-v\d+$")


def minari_root() -> Path:
    """The Minari datasets root, absolute: ``$MINARI_DATASETS_PATH`` or ``~/.minari/datasets``."""
    from minari.storage.datasets_root_dir import get_dataset_path

    return Path(get_dataset_path()).absolute()


def check_dataset_id(dataset_id: str) -> str:
    """Returns ``dataset_id`` if it reads ``namespace/[env/]name-vN``, else raises
    ``ValueError``."""
    if not _DATASET_ID.match(dataset_id):
        raise ValueError(
            f"invalid dataset id {dataset_id!r}: expected 'namespace/name-vN' or "
            "'namespace/env/name-vN' (namespace of 2+ characters, a version number)"
        )
    return dataset_id


def _check_not_empty(dataset_id: str, chunk: list[Any], first: int) -> None:
    """Refuses an episode without steps (Minari fails on it with an IndexError)."""
    for index, episode in enumerate(chunk):
        if len(episode) == 0:
            raise ValueError(f"dataset {dataset_id!r}: episode {first + index} has no steps")


@contextlib.contextmanager
def use_minari_root(path: str | os.PathLike) -> Iterator[None]:
    """Makes ``path`` the Minari root (``MINARI_DATASETS_PATH``) inside the block."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    # absolute: minari 0.5.4 doubles a relative root when it measures the dataset size
    os.environ["MINARI_DATASETS_PATH"] = str(Path(path).absolute())
    try:
        yield
    finally:
        if previous is None:
            del os.environ["MINARI_DATASETS_PATH"]
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


@contextlib.contextmanager
def _compressed_frames(filters: Mapping[str, Any]) -> Iterator[None]:
    """Within the block, hdf5 datasets of uint8 arrays with 3 or more dimensions (image
    observations) are created with ``filters``.

    Minari's storage creates its datasets through h5py's public ``Group.create_dataset``
    and has no compression option of its own; this wraps that method for the duration of
    one write (one thread writes a dataset at a time) and restores it afterwards.
    """
    if not filters:
        yield
        return
    import h5py

    original = h5py.Group.create_dataset

    def create_dataset(
        self: Any, name: Any, shape: Any = None, dtype: Any = None, data: Any = None, **kwargs: Any
    ) -> Any:
        array = np.asarray(data) if data is not None else None
        if array is not None and array.dtype == np.uint8 and array.ndim >= 3 and len(array):
            chunks = (min(len(array), FRAMES_PER_CHUNK), *array.shape[1:])
            kwargs = {**kwargs, **filters, "chunks": chunks}
        return original(self, name, shape, dtype, data, **kwargs)

    h5py.Group.create_dataset = create_dataset  # type: ignore[method-assign]
    try:
        yield
    finally:
        h5py.Group.create_dataset = original  # type: ignore[method-assign]


def write_minari_dataset(
    dataset_id: str,
    episode_chunks: Iterable[list[Any]],
    *,
    observation_space: Any,
    action_space: Any,
    metadata: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
    description: str | None = None,
    algorithm_name: str | None = None,
    overwrite: bool = False,
    env_spec: Any = None,
    eval_env_spec: Any = None,
    compression: str = "none",
) -> Path:
    """Writes a Minari dataset (hdf5, lossless) from chunks of episodes, atomically.

    Episodes arrive in chunks so that a converter can stream: only one chunk of
    ``minari.data_collector.EpisodeBuffer`` objects needs to be in memory at a time.

    Args:
        dataset_id: ``namespace/name-vN``.
        episode_chunks: iterable of lists of ``EpisodeBuffer`` (T+1 observations each).
        observation_space, action_space: gymnasium spaces of the data.
        metadata: extra JSON-serialisable metadata stored with the dataset, or a function
            that returns it, called once every chunk is written (so that it can report
            what the chunks measured, e.g. a success rate).
        description: dataset description.
        algorithm_name: the policy or procedure that produced the data.
        overwrite: replace an existing dataset with this id.
        env_spec, eval_env_spec: gymnasium ``EnvSpec`` of the environment the data was
            collected in and of the one to evaluate in (string entry points, so that they
            serialise; :mod:`d3rlpy_dtmem.envs.registry`), or ``None``.
        compression: hdf5 filter of image observations (uint8 arrays of 3 or more
            dimensions), one of :data:`FRAME_COMPRESSIONS`; readers (Minari, h5py)
            decompress them transparently.

    Returns:
        the dataset's folder.

    Raises:
        ValueError: invalid id, no episodes at all, or an episode without steps.
        FileExistsError: the dataset exists and ``overwrite`` is False.
    """
    from minari import create_dataset_from_buffers
    from minari.namespace import create_namespace, list_local_namespaces

    check_dataset_id(dataset_id)
    if compression not in FRAME_COMPRESSIONS:
        raise ValueError(
            f"unknown compression {compression!r}; choose from {', '.join(FRAME_COMPRESSIONS)}"
        )
    root = minari_root()
    final = root / dataset_id
    if final.exists() and not overwrite:
        raise FileExistsError(f"dataset {dataset_id!r} already exists at {final} (use overwrite)")
    staging = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=root))
    try:
        with (
            use_minari_root(staging),
            warnings.catch_warnings(),
            _compressed_frames(FRAME_COMPRESSIONS[compression]),
        ):
            # the optional author/permalink fields are left empty, and datasets without an
            # env spec say so in their metadata
            for message in (".*eval_env.*", ".*env_spec is None.*", ".*is set to None.*"):
                warnings.filterwarnings("ignore", message=message, category=UserWarning)
            dataset, written = None, 0
            for chunk in episode_chunks:
                _check_not_empty(dataset_id, chunk, written)
                written += len(chunk)
                if not chunk:
                    continue
                if dataset is None:
                    dataset = create_dataset_from_buffers(
                        dataset_id,
                        chunk,
                        env=env_spec,
                        eval_env=eval_env_spec,
                        observation_space=observation_space,
                        action_space=action_space,
                        description=description,
                        algorithm_name=algorithm_name,
                        data_format="hdf5",
                        jpeg_encoding=False,
                    )
                else:
                    dataset.update_dataset_from_buffer(chunk)
            if dataset is None:
                raise ValueError(f"dataset {dataset_id!r}: no episodes to write")
            extra = metadata() if callable(metadata) else metadata
            if extra:
                dataset.storage.update_metadata(dict(extra))
        namespace = dataset_id.split("/", 1)[0]
        if namespace not in list_local_namespaces():
            create_namespace(namespace)
        if final.exists():
            shutil.move(str(final), str(staging / "replaced"))
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / dataset_id, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
