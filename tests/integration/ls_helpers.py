"""Helpers of the Label Studio integration tests."""

from dataset_helpers import add_images, dets, make_image

__all__ = ["add_images", "dets", "make_image", "project_titles", "task_of"]


def task_of(results, sample_id):
    return results.sample_to_task[sample_id]


def project_titles(ls_client):
    return [p["title"] for p in ls_client.http.get_json("/api/projects", params={"page_size": 1000})["results"]]
