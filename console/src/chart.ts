// uPlot, loaded only by pages that draw a chart (a separate chunk: the lists load without it). Its small stylesheet
// is in the main one (style.css imports it): one request fewer on the job page, whose reads fill the connections.
import uPlot from "uplot";

export default uPlot;
