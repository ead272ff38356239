"""The workflow's tables read back with their ids as written."""
import pandas as pd

from snakeseg.tables import read_table


def test_ids_that_look_like_numbers_or_missing_values_keep_their_names(tmp_path):
    table = tmp_path / "summary.csv"
    pd.DataFrame({"id": ["0241", "NA", "nan", "null", "None"], "shard": ["0003"] * 5,
                  "objects": [3, None, 1, 2, None], "expected_dice": [0.9, None, None, 0.5, 1.0]}).to_csv(table, index=False)
    got = read_table(table)
    assert list(got["id"]) == ["0241", "NA", "nan", "null", "None"] and set(got["shard"]) == {"0003"}
    assert got["objects"].isna().tolist() == [False, True, False, False, True]  # empty cells are missing
    assert got["expected_dice"].dtype == float and got["expected_dice"].iloc[3] == 0.5
    assert pd.read_csv(table)["id"].isna().sum() == 4  # what pandas alone makes of them
    as_text = read_table(table, dtype=str)  # set_aside.csv: every column text
    assert as_text["id"].tolist()[1] == "NA" and as_text["expected_dice"].tolist()[0] == "0.9"
