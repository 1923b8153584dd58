"""Running reads and writes: read plans (:mod:`~headwater.exec.plan`,
:mod:`~headwater.exec.local`), the one execution policy (:mod:`~headwater.exec.policy`), draining C
scans and mapping their failures (:mod:`~headwater.exec.scan`), write tasks and jobs
(:mod:`~headwater.exec.write_task`), save modes (:mod:`~headwater.exec.savemode`) and the worker
processes' entry point (:mod:`~headwater.exec._worker`). Imports only ``datasource``, ``schema``,
``types``, ``config``, ``arrowtypes``, ``errors`` and the C core."""
