"""Grade many submissions, in parallel processes, with a progress bar."""

from concurrent.futures import ProcessPoolExecutor

from .grade import grade_path


def _one(job):
    student, path, secret = job
    return grade_path(student, path, secret)


def grade_all(submissions, secret=None, workers=1, progress=True):
    """Results in the order of ``submissions`` ([(student, notebook path)])."""
    from tqdm.auto import tqdm

    jobs = [(student, path, secret) for student, path in submissions]
    bar = tqdm(total=len(jobs), desc="grading", unit="submission", disable=not progress)
    results = []
    try:
        if workers == 1:
            for job in jobs:
                results.append(_one(job))
                bar.update()
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for result in pool.map(_one, jobs):
                    results.append(result)
                    bar.update()
    finally:
        bar.close()
    return results
