"""Scores iris flowers: petal area, and whether it is large for its species."""


def score(df, threshold=1.0):
    areas = [length * width for length, width in zip(df["PETAL_LENGTH"], df["PETAL_WIDTH"])]
    print(f"scored {len(areas)} flowers")
    return {"SPECIES": list(df["SPECIES"]), "AREA": areas, "LARGE": [a > threshold for a in areas]}


def mean_area(df):
    areas = [length * width for length, width in zip(df["PETAL_LENGTH"], df["PETAL_WIDTH"])]
    if not areas:
        raise ValueError("no flowers in this group")
    return {"MEAN_AREA": [sum(areas) / len(areas)]}
