"""The client requests of docs/serving.md (REST JSON, gRPC PredictRequest), built and run.

A request is validated the way TF Serving does it, against the SignatureDef
in `saved_model.pb` (input keys, dtypes, shapes), then decoded and run on the
loaded signature; the results must equal a direct call.
"""

import json

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from tests.export.conftest import random_images


def signature_defs(serving_version_dir):
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((serving_version_dir / "saved_model.pb").read_bytes())
    return saved.meta_graphs[0].signature_def


def check_against_signature(tensors, tensor_infos):
    """Keys, dtypes and shapes of `{name: TensorProto}` vs a SignatureDef's map."""
    assert set(tensors) == set(tensor_infos)
    for key, proto in tensors.items():
        info = tensor_infos[key]
        assert proto.dtype == info.dtype, f"{key}: dtype {proto.dtype} vs {info.dtype}"
        shape = [d.size for d in proto.tensor_shape.dim]
        wanted = [d.size for d in info.tensor_shape.dim]
        assert len(shape) == len(wanted), f"{key}: rank of {shape} vs {wanted}"
        assert all(w in (-1, s) for s, w in zip(shape, wanted)), f"{key}: {shape} vs {wanted}"


# --- REST: what the README's `curl` sends, and how TF Serving decodes it ---


def rest_body_instances(source, target, points=None):
    """Row format: one JSON object per batch item."""
    instances = []
    for b in range(len(source)):
        instance = {"source_image": source[b].tolist(), "target_image": target[b].tolist()}
        if points is not None:
            instance["points"] = points[b].tolist()
        instances.append(instance)
    name = "serving_default" if points is None else "map_points"
    return json.dumps({"signature_name": name, "instances": instances})


def rest_body_inputs(source, target, points=None):
    """Columnar format: one batched value per input."""
    inputs = {"source_image": source.tolist(), "target_image": target.tolist()}
    if points is not None:
        inputs["points"] = points.tolist()
    name = "serving_default" if points is None else "map_points"
    return json.dumps({"signature_name": name, "inputs": inputs})


def decode_rest_body(body, signature_def_map):
    """JSON body → (signature name, `{input: TensorProto}`) as TF Serving reads it."""
    request = json.loads(body)
    signature_def = signature_def_map[request.get("signature_name", "serving_default")]
    if "instances" in request:
        rows = request["instances"]
        columns = {k: np.asarray([row[k] for row in rows]) for k in rows[0]}
    else:
        columns = {k: np.asarray(v) for k, v in request["inputs"].items()}
    tensors = {}
    for key, values in columns.items():
        dtype = tf.dtypes.as_dtype(signature_def.inputs[key].dtype).as_numpy_dtype
        converted = values.astype(dtype)
        assert np.array_equal(converted, values), f"{key}: values do not fit {dtype}"
        tensors[key] = tf.make_tensor_proto(converted)
    return request.get("signature_name", "serving_default"), tensors


def run_protos(signatures, name, tensors):
    return signatures[name](**{k: tf.constant(tf.make_ndarray(v)) for k, v in tensors.items()})


@pytest.fixture(scope="module")
def request_data():
    rng = np.random.default_rng(21)
    source, target = random_images(rng, 2, 40, 56), random_images(rng, 2, 32, 30)
    points = np.array([[[0, 0], [29, 31], [12.5, 3]], [[5, 5], [1, 2], [20, 20]]], np.float32)
    return source, target, points


@pytest.mark.parametrize("make_body", [rest_body_instances, rest_body_inputs])
def test_rest_bodies_match_the_signature_and_run(
    make_body, request_data, single_export, single_signatures
):
    source, target, points = request_data
    defs = signature_defs(single_export / "serving" / "1")
    for with_points in (False, True):
        body = make_body(source, target, points if with_points else None)
        name, tensors = decode_rest_body(body, defs)
        check_against_signature(tensors, defs[name].inputs)
        served = run_protos(single_signatures, name, tensors)
        direct = single_signatures[name](
            source_image=source, target_image=target, **({"points": points} if with_points else {})
        )
        assert set(served) == set(defs[name].outputs)
        for key in served:
            np.testing.assert_allclose(served[key].numpy(), direct[key].numpy(), atol=1e-5)
        # The response is JSON as well: TF Serving writes "predictions" / "outputs".
        json.dumps({k: v.numpy().tolist() for k, v in served.items()})


def test_rest_body_with_float_pixels_does_not_fit_uint8(request_data, single_export):
    source, target, _ = request_data
    body = json.loads(rest_body_inputs(source, target))
    body["inputs"]["source_image"] = (source / 255.0).tolist()
    with pytest.raises(AssertionError, match="do not fit"):
        decode_rest_body(json.dumps(body), signature_defs(single_export / "serving" / "1"))


def test_grpc_predict_request_matches_the_signature_and_runs(
    request_data, two_stage_export, two_stage_signatures
):
    predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")
    source, target, points = request_data
    defs = signature_defs(two_stage_export / "serving" / "7")
    for name, inputs in (
        ("serving_default", {"source_image": source, "target_image": target}),
        ("map_points", {"source_image": source, "target_image": target, "points": points}),
    ):
        # As in docs/serving.md:
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "geomatch"
        request.model_spec.signature_name = name
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        # Over the wire and back, then checked and run as the server would.
        received = predict_pb2.PredictRequest.FromString(request.SerializeToString())
        signature_def = defs[received.model_spec.signature_name]
        assert signature_def.method_name == "tensorflow/serving/predict"
        check_against_signature(dict(received.inputs), signature_def.inputs)
        served = run_protos(two_stage_signatures, name, dict(received.inputs))
        response = predict_pb2.PredictResponse()
        for key, value in served.items():
            response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
        check_against_signature(dict(response.outputs), signature_def.outputs)
        direct = two_stage_signatures[name](**inputs)
        for key in direct:
            np.testing.assert_allclose(
                tf.make_ndarray(response.outputs[key]), direct[key].numpy(), atol=1e-5
            )
