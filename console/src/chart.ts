// uPlot and its stylesheet, loaded only by pages that draw a chart (a separate chunk: the lists load without it).
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export default uPlot;
